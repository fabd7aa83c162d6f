"""Training-free measures ("zero-cost proxies") of networks at initialisation."""
