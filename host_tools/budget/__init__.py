"""`budget`: time awake, energy per reading and battery life of a node, by the cost model in
firmware/sim/radiomodel.py (published measurements; README "Battery life")."""
