"""Test data factories (polyfactory), one module per context."""
