"""A deterministic synthetic media world: users, a catalog, and the events between them.

This is the embedded default that demos, benchmarks and tests run on when no real data is at
hand. Everything follows from :class:`~training.datasets.synthetic.world.WorldConfig`: the same
seed and the same ``end_ms`` give the same world, array for array.

- ``world``: ``WorldConfig``, the ``World`` arrays and the codes they hold (platforms, kinds,
  event types); ``generation``: ``generate_world``, users and the catalog; ``sampling``: the
  interactions and their events; ``write``: ``write_world``, the world into the database.

How the world is made:

* **Users** have a primary platform (web 45% / ios 30% / android 25%), a lognormal activity level
  (how many interactions they get) and a hidden *taste*: a sparse Dirichlet vector over the
  categories, so most users care about one to three of them.
* **Items** are videos, articles and posts with one to three categories, a publication time
  spread over ``[start - 30 days, end]`` (most of the catalog predates the window) and a
  Zipf popularity (a power law over shuffled ranks).
* **Interactions** pair a user with an item drawn with probability proportional to
  ``popularity x (affinity + epsilon) x availability``, where ``affinity`` is the user's taste mass
  on the item's categories (see :meth:`World.affinity`) and ``availability`` is the share of the
  window the item was published for. A user meets an item at most once. Each interaction happens
  at a uniform time between ``max(start, published_ms)`` and ``end``.
* **Events** of an interaction: a ``click``; then a ``view`` with a dwell time (about 3 in 4
  interactions), which a low-affinity interaction may turn into a ``skip``; a ``like`` after a
  view with a probability rising with affinity; now and then a ``share``.

The event count is exact: interactions are sampled until there are enough events, then a random
subset of whole interactions is kept, plus at most one interaction cut after its first events.
"""
