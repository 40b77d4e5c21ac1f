"""The model: scenario to arrays (world), the compiled core (kernels) and its plain-Python
reference, the Mesa model and its agents, the recorder and the KPIs."""
