"""Certificate authorities, certificates, the agent, the ssh_config block."""
