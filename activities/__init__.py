"""Activities: one module a stage; each class receives its clients in ``__init__``.

Every activity says in its docstring what makes it safe to run twice (its key).
"""
