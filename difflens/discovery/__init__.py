"""Discovery: embed both models' texts, cluster, match clusters, propose hypotheses."""
