"""The directory of territories, épiceries, producers and hubs: rules (pure) and writer."""
