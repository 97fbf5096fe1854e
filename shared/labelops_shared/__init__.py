"""The LabelOps shared kernel: contracts and runtime plumbing every service uses.

It holds no business rules and imports no service.
"""
