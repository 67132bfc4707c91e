"""The recommend function: a personalised top-K feed per user, every item logged as shown."""
