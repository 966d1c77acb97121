"""The collaboration protocols, one module each."""
