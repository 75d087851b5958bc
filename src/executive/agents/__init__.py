"""agents layer of executive (see DESIGN.md §2)."""
