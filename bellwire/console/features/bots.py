"""App instance bots (CreateAppInstanceBot ...): listed per app instance."""

from bellwire.console.features import Feature

FEATURE = Feature(
    "bots", "Bots", "app", "ListAppInstanceBots", "AppInstanceBots", ("AppInstanceBotArn", "Name")
)
