"""Host-side tools for mqtt-node: certificates, broker config, device bundles, builds, flashing."""
