"""What every bootflow process shares: the messages, states, errors and activity
definitions workflows and workers agree on, task queues, settings and the Temporal connection.

The bottom layer: it imports no other bootflow package.
"""
