"""Serving: deployments, model servers, the router, canary analysis and scaling."""
