"""Analyses of paper §5: rationale content (Table 4) and gradient similarity (Figure 4)."""
