# Campaigns, triggered messages, auto-responders: see the campaigns issue.
