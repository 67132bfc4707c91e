"""`mediarec benchmark ...`: each prints a table and writes JSON."""
