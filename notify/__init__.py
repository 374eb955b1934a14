"""The notifier (`gridpulse notify`): alerts reach the people who act, Alertmanager-style.

The pure core holds every decision and takes ``now`` (an event time) as an argument:
``labels`` (an alert's labels and annotations), ``matchers``, ``config`` (the file, checked
field by field), ``route`` (the routing tree), ``groups`` (aggregation groups, flush
schedule and the dedup decision), ``inhibit``, ``silences``, ``mute`` (windows on the
working calendar), ``payload`` and ``text`` (what a receiver is sent), ``signing``,
``retry`` (the one classifier of delivery outcomes) and ``allowlist``. The adapters only
adapt them: ``clock`` and ``store`` (Redis), ``http`` and ``sender`` (delivery),
``process`` (Kafka in, the loop), ``commands`` (the CLI).
"""
