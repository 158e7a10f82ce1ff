"""The pooled-orders service: shops' needs consolidated per producer and delivery slot through the
hub, producers chosen with the Lyon selection grid, orders followed from allocation to receipt.

The domain modules (`grid`, `rounding`, `allocation`, `lifecycle`) are pure: no I/O, no clock, no
broker; times are parameters and every decision is returned as values and events.
"""
