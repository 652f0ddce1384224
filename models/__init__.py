"""Trained models shipped with nst (see README.md here); mapped into the package as nst_toolkit.models at build time."""
