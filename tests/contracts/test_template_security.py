"""template.yaml's access controls: throttling, the EFS file-system policy, S3 read access for
model bundles only when they live on S3, the optional JWT client API, and a dependency layer that
leaves the AWS SDK to Lambda's runtime.

The CloudFormation expressions that parse ModelsUri are evaluated here by a small interpreter of
the intrinsic functions they use, so the ARNs a deployment would get are checked, not just the text.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.utils.paths import ROOT
from tests.utils.template import FUNCTIONS, GLOBAL_FUNCTION, TEMPLATE, TEMPLATE_DATA

RESOURCES: dict[str, Any] = TEMPLATE_DATA["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE_DATA["Parameters"]
CONDITIONS: dict[str, Any] = TEMPLATE_DATA["Conditions"]
MAKEFILE = ROOT / "functions" / "Makefile"
BUILT_LAYER = ROOT / ".aws-sam" / "build" / "DependenciesLayer" / "python"
CLIENT_ROUTES = {
    "GET /recommendations/{user_id}": "RecommendFunction",
    "POST /events": "IngestFunction",
}
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "mediarec",
    "AWS::URLSuffix": "amazonaws.com",
}


# ---------------------------------------------------------------- a tiny CloudFormation evaluator


def evaluate(node: Any, params: dict[str, Any]) -> Any:
    """Resolve Ref, Fn::Sub, Fn::Join, Fn::Split, Fn::Select and the condition functions."""
    if isinstance(node, list):
        return [evaluate(item, params) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) != 1 or not next(iter(node)).startswith(("Ref", "Fn::")):
        return {key: evaluate(value, params) for key, value in node.items()}
    ((name, arg),) = node.items()
    if name == "Ref":
        return {**PSEUDO, **params}[arg]
    if name == "Fn::Sub":
        text, names = (arg, {}) if isinstance(arg, str) else arg
        values = {**PSEUDO, **params, **{k: evaluate(v, params) for k, v in names.items()}}
        return re.sub(r"\$\{([^}!]+)\}", lambda m: str(values[m.group(1)]), text)
    if name == "Fn::Join":
        return arg[0].join(evaluate(arg[1], params))
    if name == "Fn::Split":
        assert isinstance(arg[0], str), "Fn::Split takes no computed delimiter"
        return evaluate(arg[1], params).split(arg[0])
    if name == "Fn::Select":
        return evaluate(arg[1], params)[int(arg[0])]  # IndexError: CloudFormation fails too
    if name == "Fn::Equals":
        return evaluate(arg[0], params) == evaluate(arg[1], params)
    if name == "Fn::Not":
        return not evaluate(arg[0], params)
    if name == "Fn::And":
        return all(evaluate(item, params) for item in arg)
    if name == "Fn::Condition":
        return evaluate(CONDITIONS[arg], params)
    raise NotImplementedError(name)


NO_VALUE = object()


def with_conditions(node: Any, **overrides: Any) -> Any:
    """``node`` with every Fn::If decided for a deployment's parameters and AWS::NoValue
    dropped; other intrinsics are left as they are."""
    params = parameters(**overrides)

    def walk(item: Any) -> Any:
        if isinstance(item, list):
            return [v for v in (walk(i) for i in item) if v is not NO_VALUE]
        if not isinstance(item, dict):
            return item
        if item == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        if len(item) == 1 and "Fn::If" in item:
            condition, yes, no = item["Fn::If"]
            return walk(yes if evaluate(CONDITIONS[condition], params) else no)
        return {k: v for k, v in ((k, walk(v)) for k, v in item.items()) if v is not NO_VALUE}

    return walk(node)


def parameters(**overrides: Any) -> dict[str, Any]:
    """Every parameter's value for a deployment: its default, or what the test passes."""
    values: dict[str, Any] = {}
    for name, spec in PARAMETERS.items():
        value = overrides.get(name, spec.get("Default", ""))
        if spec["Type"] == "CommaDelimitedList" and isinstance(value, str):
            value = value.split(",")
        values[name] = value
    return values


def allowed(parameter: str, value: str) -> bool:
    """Whether CloudFormation would accept the value (Java and Python agree on these patterns)."""
    return re.fullmatch(PARAMETERS[parameter]["AllowedPattern"], value) is not None


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return list(policy["Statement"])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- throttling


def test_throttling_parameters_have_the_issue_defaults() -> None:
    assert PARAMETERS["ThrottlingBurstLimit"]["Default"] == 200
    assert PARAMETERS["ThrottlingRateLimit"]["Default"] == 100
    for name in ("ThrottlingBurstLimit", "ThrottlingRateLimit"):
        assert PARAMETERS[name]["Type"] == "Number"


@pytest.mark.parametrize(
    ("resource", "settings"),
    [("Api", "DefaultRouteSettings"), ("ClientStage", "DefaultRouteSettings")],
)
def test_every_api_throttles_its_routes_by_default(resource: str, settings: str) -> None:
    route_settings = RESOURCES[resource]["Properties"][settings]
    assert route_settings == {
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
    }


# ---------------------------------------------------------------- EFS


FS_POLICY = RESOURCES["DataFileSystem"]["Properties"]["FileSystemPolicy"]
CLIENT_ACTIONS = {
    "elasticfilesystem:ClientMount",
    "elasticfilesystem:ClientWrite",
    "elasticfilesystem:ClientRootAccess",
}


def _denies(condition: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for s in statements(FS_POLICY)
        if s["Effect"] == "Deny" and s.get("Condition") == condition
    ]


def test_file_system_policy_denies_every_client_action_without_tls() -> None:
    (deny,) = _denies({"Bool": {"aws:SecureTransport": "false"}})
    assert deny["Principal"] in ("*", {"AWS": "*"})
    assert set(as_list(deny["Action"])) >= CLIENT_ACTIONS


def test_file_system_policy_denies_mounts_without_an_access_point() -> None:
    """An Allow in a role's own policy would suffice in the same account: only a Deny holds."""
    (deny,) = _denies({"Null": {"elasticfilesystem:AccessPointArn": "true"}})
    assert deny["Principal"] in ("*", {"AWS": "*"})
    assert set(as_list(deny["Action"])) >= CLIENT_ACTIONS


def test_file_system_policy_allows_mount_and_write_only_through_an_access_point() -> None:
    allows = [s for s in statements(FS_POLICY) if s["Effect"] == "Allow"]
    assert allows
    example_arn = (
        "arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/fsap-0123456789abcdef0"
    )
    for allow in allows:
        assert set(as_list(allow["Action"])) <= {
            "elasticfilesystem:ClientMount",
            "elasticfilesystem:ClientWrite",
        }, "never ClientRootAccess: the access point enforces uid 1000"
        assert allow["Principal"] not in ("*", {"AWS": "*"}), "no anonymous or foreign clients"
        assert evaluate(allow["Principal"], {}) == {"AWS": "arn:aws:iam::123456789012:root"}
        condition = allow["Condition"]
        assert condition["Bool"] == {"elasticfilesystem:AccessedViaMountTarget": "true"}
        pattern = evaluate(condition["StringLike"]["elasticfilesystem:AccessPointArn"], {})
        assert fnmatch.fnmatchcase(example_arn, pattern)
        assert not fnmatch.fnmatchcase(example_arn.replace("123456789012", "999999999999"), pattern)


def test_file_system_policy_does_not_name_the_access_point() -> None:
    """The access point references the file system: naming it here would be a cycle."""
    text = json.dumps(FS_POLICY)
    assert "DataAccessPoint" not in text
    assert "DataFileSystem" not in text


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_functions_mount_through_the_access_point_with_iam(logical_id: str) -> None:
    """What keeps the policy from locking the functions out: Lambda mounts over TLS with the
    execution role, through the access point, and the role may mount and write through it."""
    properties = with_conditions(FUNCTIONS[logical_id], StorageEngine="sqlite-efs")
    (config,) = properties["FileSystemConfigs"]
    assert config["Arn"] == {"Fn::GetAtt": ["DataAccessPoint", "Arn"]}
    efs_policies = [
        p["EFSWriteAccessPolicy"] for p in properties["Policies"] if "EFSWriteAccessPolicy" in p
    ]
    assert efs_policies == [
        {"FileSystem": {"Ref": "DataFileSystem"}, "AccessPoint": {"Ref": "DataAccessPoint"}}
    ]
    assert not [p for p in properties["Policies"] if "AWSSecretsManagerGetSecretValuePolicy" in p]


# ---------------------------------------------------------------- the storage engine


EFS_TYPES = {"AWS::EFS::FileSystem", "AWS::EFS::MountTarget", "AWS::EFS::AccessPoint"}
AURORA_TYPES = {"AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::RDS::DBSubnetGroup"}
CLUSTER_SECRET = {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]}


def test_sqlite_on_efs_stays_the_default_engine() -> None:
    spec = PARAMETERS["StorageEngine"]
    assert spec["Default"] == "sqlite-efs"
    assert spec["AllowedValues"] == ["sqlite-efs", "aurora-postgresql"]


def test_each_storage_resource_exists_only_with_its_engine() -> None:
    for logical_id, resource in RESOURCES.items():
        if resource["Type"] in EFS_TYPES:
            assert resource.get("Condition") == "UseEfs", logical_id
        if resource["Type"] in AURORA_TYPES:
            assert resource.get("Condition") == "UseAurora", logical_id
    assert RESOURCES["NfsIngress"]["Condition"] == "UseEfs"
    assert RESOURCES["PostgresIngress"]["Condition"] == "UseAurora"
    assert RESOURCES["PostgresIngress"]["Properties"]["FromPort"] == 5432
    expected = {
        "sqlite-efs": {"FileSystemId"},
        "aurora-postgresql": {"DatabaseEndpoint", "DatabaseSecretArn"},
    }
    for engine, outputs in expected.items():
        params = parameters(StorageEngine=engine)
        shown = {
            name
            for name, output in TEMPLATE_DATA["Outputs"].items()
            if "Condition" not in output or evaluate(CONDITIONS[output["Condition"]], params)
        }
        assert outputs <= shown and not (shown & {"FileSystemId", "DatabaseEndpoint"}) - outputs


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_on_aurora_functions_mount_nothing_and_may_read_only_the_cluster_secret(
    logical_id: str,
) -> None:
    properties = with_conditions(FUNCTIONS[logical_id], StorageEngine="aurora-postgresql")
    assert "FileSystemConfigs" not in properties
    assert properties["Policies"] == [{"AWSSecretsManagerGetSecretValuePolicy": {
        "SecretArn": CLUSTER_SECRET}}]  # fmt: skip
    assert RESOURCES[logical_id]["DependsOn"] == "StorageReady"


def test_functions_wait_for_the_storage_of_their_engine() -> None:
    ready = RESOURCES["StorageReady"]
    waited = {
        engine: [
            value
            for value in with_conditions(ready["Metadata"], StorageEngine=engine).values()
            if value != ""
        ]
        for engine in ("sqlite-efs", "aurora-postgresql")
    }
    assert waited["sqlite-efs"] == [{"Ref": "DataMountTargetA"}, {"Ref": "DataMountTargetB"}]
    assert waited["aurora-postgresql"] == [{"Ref": "DatabaseInstance"}]


def test_the_database_url_carries_no_password_and_requires_tls() -> None:
    variables = GLOBAL_FUNCTION["Environment"]["Variables"]
    on_efs = with_conditions(variables, StorageEngine="sqlite-efs")
    assert on_efs["MEDIAREC_DATABASE_URL"] == "" and on_efs["MEDIAREC_DATABASE_SECRET_ARN"] == ""
    on_aurora = with_conditions(variables, StorageEngine="aurora-postgresql")
    url = on_aurora["MEDIAREC_DATABASE_URL"]["Fn::Sub"]
    assert url.startswith("postgresql://mediarec@") and url.endswith("?sslmode=require")
    assert not re.search(r"//[^@/]*:[^@/]*@", url), "a password in the URL"
    assert on_aurora["MEDIAREC_DATABASE_SECRET_ARN"] == CLUSTER_SECRET


def test_aurora_is_serverless_v2_with_a_password_only_rds_knows() -> None:
    cluster = RESOURCES["DatabaseCluster"]
    properties = cluster["Properties"]
    assert properties["Engine"] == "aurora-postgresql"
    assert properties["ManageMasterUserPassword"] is True and "MasterUserPassword" not in properties
    assert properties["StorageEncrypted"] is True
    assert properties["ServerlessV2ScalingConfiguration"] == {
        "MinCapacity": {"Ref": "AuroraMinCapacity"},
        "MaxCapacity": {"Ref": "AuroraMaxCapacity"},
    }
    assert cluster["DeletionPolicy"] == "Snapshot"
    instance = RESOURCES["DatabaseInstance"]["Properties"]
    assert instance["DBInstanceClass"] == "db.serverless"
    assert instance["PubliclyAccessible"] is False
    assert PARAMETERS["AuroraMinCapacity"]["MinValue"] == 0  # scale to zero is allowed


def test_aurora_refuses_the_default_models_folder_on_efs() -> None:
    rule = TEMPLATE_DATA["Rules"]["AuroraNeedsModelsOnS3"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "StorageEngine"}, "aurora-postgresql"]}
    (assertion,) = rule["Assertions"]
    default = PARAMETERS["ModelsUri"]["Default"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ModelsUri"}, default]}]}


# ---------------------------------------------------------------- model bundles on S3


def _models_policy(models_uri: str) -> dict[str, Any]:
    params = parameters(ModelsUri=models_uri)
    return evaluate(RESOURCES["ModelsReadPolicy"]["Properties"]["PolicyDocument"], params)


@pytest.mark.parametrize(
    ("models_uri", "objects", "bucket", "prefix"),
    [
        ("s3://media-models", "arn:aws:s3:::media-models/*", "arn:aws:s3:::media-models", "*"),
        ("s3://media-models/mediarec", "arn:aws:s3:::media-models/mediarec/*",
         "arn:aws:s3:::media-models", "mediarec/*"),
        ("s3://ml.example-1/a/b/c/d", "arn:aws:s3:::ml.example-1/a/b/c/d/*",
         "arn:aws:s3:::ml.example-1", "a/b/c/d/*"),
        ("s3://models/models/v2", "arn:aws:s3:::models/models/v2/*", "arn:aws:s3:::models",
         "models/v2/*"),
    ],
)  # fmt: skip
def test_s3_models_uri_grants_read_under_its_prefix_only(
    models_uri: str, objects: str, bucket: str, prefix: str
) -> None:
    assert allowed("ModelsUri", models_uri)
    assert evaluate(CONDITIONS["ModelsInS3"], parameters(ModelsUri=models_uri)) is True
    by_action = {s["Action"]: s for s in statements(_models_policy(models_uri))}
    assert set(by_action) == {"s3:GetObject", "s3:ListBucket"}
    assert by_action["s3:GetObject"]["Resource"] == objects
    assert by_action["s3:ListBucket"]["Resource"] == bucket
    assert by_action["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": prefix}}
    # what model_runtime.local_bundle lists, then downloads, for a version published there
    version_prefix = prefix.removesuffix("*") + "v20260101/"
    assert fnmatch.fnmatchcase(version_prefix, prefix)
    assert fnmatch.fnmatchcase(f"{bucket}/{version_prefix}model.onnx", objects)
    assert not fnmatch.fnmatchcase(f"{bucket}-other/{version_prefix}model.onnx", objects)


@pytest.mark.parametrize("models_uri", ["/mnt/mediarec/models", "/", "/mnt/s3:/x"])
def test_a_models_folder_grants_no_s3_permission(models_uri: str) -> None:
    assert allowed("ModelsUri", models_uri)
    assert evaluate(CONDITIONS["ModelsInS3"], parameters(ModelsUri=models_uri)) is False
    _models_policy(models_uri)  # still defined: CloudFormation need not evaluate it, but could


@pytest.mark.parametrize(
    "models_uri",
    ["", "models", "s3://", "s3://b", "s3://Bucket/x", "s3://bucket/", "s3://bucket//x",
     "s3://bucket/a/b/c/d/e", "s3://bucket/a~b", "https://bucket/x"],
)  # fmt: skip
def test_models_uri_rejects_what_the_policy_cannot_express(models_uri: str) -> None:
    assert not allowed("ModelsUri", models_uri)


def test_s3_permission_exists_only_under_the_s3_condition() -> None:
    assert RESOURCES["ModelsReadPolicy"]["Condition"] == "ModelsInS3"
    assert RESOURCES["ModelsReadPolicy"]["Properties"]["RoleName"] == {
        "Ref": "RecommendFunctionRole"
    }
    for logical_id, resource in RESOURCES.items():
        if logical_id != "ModelsReadPolicy":
            assert '"s3:' not in json.dumps(resource), f"{logical_id} grants S3 access"
    for properties in FUNCTIONS.values():
        for policy in properties.get("Policies") or []:
            assert not any("S3" in name for name in policy), "S3 policy template on a function"


# ---------------------------------------------------------------- the JWT client API


CLIENT_RESOURCES = {
    logical_id: resource
    for logical_id, resource in RESOURCES.items()
    if resource["Type"].startswith("AWS::ApiGatewayV2::")
    or resource["Type"] == "AWS::Lambda::Permission"
}


def test_jwt_turns_on_with_an_issuer_only() -> None:
    assert PARAMETERS["JwtIssuer"]["Default"] == ""
    assert PARAMETERS["JwtAudience"]["Type"] == "CommaDelimitedList"
    assert evaluate(CONDITIONS["UseJwt"], parameters()) is False
    issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    assert evaluate(CONDITIONS["UseJwt"], parameters(JwtIssuer=issuer)) is True
    assert allowed("JwtIssuer", issuer) and allowed("JwtIssuer", "")
    assert not allowed("JwtIssuer", "http://insecure.example")
    rule = TEMPLATE_DATA["Rules"]["JwtNeedsAudience"]
    assert rule["RuleCondition"] == CONDITIONS["UseJwt"]


def test_every_client_api_resource_is_conditional() -> None:
    assert {r["Type"] for r in CLIENT_RESOURCES.values()} == {
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Authorizer",
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::Stage",
        "AWS::Lambda::Permission",
    }
    for logical_id, resource in CLIENT_RESOURCES.items():
        assert resource.get("Condition") == "UseJwt", f"{logical_id} is not under UseJwt"
    assert TEMPLATE_DATA["Outputs"]["ClientApiUrl"]["Condition"] == "UseJwt"


def test_client_api_has_exactly_two_routes_each_behind_the_jwt_authorizer() -> None:
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in CLIENT_RESOURCES.values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    }
    assert set(routes) == set(CLIENT_ROUTES)
    for route_key, route in routes.items():
        assert route["ApiId"] == {"Ref": "ClientApi"}
        assert route["AuthorizationType"] == "JWT", route_key
        authorizer = RESOURCES[route["AuthorizerId"]["Ref"]]["Properties"]
        assert authorizer["AuthorizerType"] == "JWT"
        assert authorizer["ApiId"] == {"Ref": "ClientApi"}
        assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
        assert authorizer["JwtConfiguration"] == {
            "Issuer": {"Ref": "JwtIssuer"},
            "Audience": {"Ref": "JwtAudience"},
        }
        integration_id = route["Target"]["Fn::Sub"].removeprefix("integrations/${").rstrip("}")
        integration = RESOURCES[integration_id]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"
        assert integration["IntegrationUri"] == {"Fn::GetAtt": [CLIENT_ROUTES[route_key], "Arn"]}


def test_client_api_may_invoke_just_its_two_routes() -> None:
    permissions = {
        r["Properties"]["FunctionName"]["Ref"]: r["Properties"]
        for r in CLIENT_RESOURCES.values()
        if r["Type"] == "AWS::Lambda::Permission"
    }
    assert set(permissions) == set(CLIENT_ROUTES.values())
    params = {"ClientApi": "abc123"}
    for route_key, function in CLIENT_ROUTES.items():
        permission = permissions[function]
        assert permission["Principal"] == "apigateway.amazonaws.com"
        source = evaluate(permission["SourceArn"], params)
        method, path = route_key.split(" ")
        invoked = f"arn:aws:execute-api:eu-west-1:123456789012:abc123/$default/{method}" + (
            path.replace("{user_id}", "u00001")
        )
        assert fnmatch.fnmatchcase(invoked, source), (invoked, source)


def test_client_stage_deploys_itself() -> None:
    stage = RESOURCES["ClientStage"]["Properties"]
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["ApiId"] == {"Ref": "ClientApi"}


def test_functions_read_the_user_claim_name_from_the_template() -> None:
    variables = (GLOBAL_FUNCTION.get("Environment") or {}).get("Variables") or {}
    assert variables["MEDIAREC_JWT_USER_CLAIM"] == {"Ref": "JwtUserClaim"}
    assert PARAMETERS["JwtUserClaim"]["Default"] == "sub"


def test_template_never_turns_access_control_off() -> None:
    """MEDIAREC_AUTH=off is for a laptop only: not in Globals, not in any function, nowhere."""
    environments = [GLOBAL_FUNCTION, *FUNCTIONS.values()]
    for properties in environments:
        variables = (properties.get("Environment") or {}).get("Variables") or {}
        assert not {name.upper() for name in variables} & {"MEDIAREC_AUTH"}
    assert "MEDIAREC_AUTH" not in TEMPLATE.read_text(encoding="utf-8").upper()


# ---------------------------------------------------------------- the layer leaves out the SDK


def _makefile_variable(name: str) -> list[str]:
    match = re.search(rf"^{name} := (.+)$", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"no {name} in {MAKEFILE}"
    return match.group(1).split()


def _layer_pins_script() -> str:
    text = MAKEFILE.read_text(encoding="utf-8")
    match = re.search(r"^define LAYER_PINS_PY\n(.*?)^endef$", text, re.MULTILINE | re.DOTALL)
    assert match, "no LAYER_PINS_PY in functions/Makefile"
    return match.group(1)


def test_layer_makefile_leaves_the_runtime_sdk_out() -> None:
    provided = set(_makefile_variable("RUNTIME_PROVIDED"))
    assert {"boto3", "botocore", "s3transfer"} <= provided
    assert "jmespath" not in provided, "Powertools requires jmespath>=1.0.1 itself: keep it"
    recipe = MAKEFILE.read_text(encoding="utf-8").split("build-DependenciesLayer:", 2)[-1]
    assert "$(RUNTIME_PROVIDED)" in recipe and "--no-deps" in recipe


def test_layer_pins_drop_the_runtime_packages(tmp_path: Path) -> None:
    report = {
        "install": [
            {"metadata": {"name": name, "version": version}}
            for name, version in [
                ("aws-lambda-powertools", "3.37.0"),
                ("aws-xray-sdk", "2.15.0"),
                ("botocore", "1.44.8"),
                ("jmespath", "1.1.0"),
                ("python_dateutil", "2.9.0.post0"),
                ("Six", "1.17.0"),
                ("urllib3", "2.8.0"),
            ]
        ]
    }
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _layer_pins_script(),
            str(path),
            *_makefile_variable("RUNTIME_PROVIDED"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == [
        "aws-lambda-powertools==3.37.0",
        "aws-xray-sdk==2.15.0",
        "jmespath==1.1.0",
    ]


@pytest.mark.build
def test_built_layer_has_no_runtime_sdk() -> None:
    if not BUILT_LAYER.is_dir():
        pytest.skip("no .aws-sam/build: run make build")
    names = {path.name.lower() for path in BUILT_LAYER.iterdir()}
    for module in ("boto3", "botocore", "s3transfer", "dateutil", "six.py", "urllib3"):
        assert module not in names, f"{module} is in the built layer"
    assert "aws_xray_sdk" in names and "jmespath" in names


def test_traces_never_record_answers() -> None:
    """Powertools' tracer records a handler's return value by default: a feed, or the key a
    create-key job answers, would land in X-Ray."""
    variables = (GLOBAL_FUNCTION.get("Environment") or {}).get("Variables") or {}
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    for properties in FUNCTIONS.values():
        own = (properties.get("Environment") or {}).get("Variables") or {}
        assert own.get("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "false") == "false"
