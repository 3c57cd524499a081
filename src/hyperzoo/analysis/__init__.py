"""The papers' analyses of trained hypernetworks: one concept per module."""
