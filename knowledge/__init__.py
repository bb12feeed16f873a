"""What Kaizen knows and learns: history, tool search, planner, patterns, optimizer.

May import ``engine``; never ``bot``. Filled in by the store, planner and optimizer work.
"""
