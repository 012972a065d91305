"""Aggregation, hotspots, litter sites, road network, routing and exports: plain functions over
data frames, graphs and arrays (callers pass the data in)."""
