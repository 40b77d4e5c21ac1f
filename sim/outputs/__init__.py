"""Results folders, written atomically, and the tables printed from them."""
