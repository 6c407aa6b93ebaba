"""The ticket domain: register, route, the clock, actions, notify, stats, scope, retention, seeding.

Everything a ticket is and may become. Web fronts and channels call it; it calls the task queue (outbox rows)
and understanding (bot.types) below it, never a channel or a web front.
"""
