"""The government side's business rules, above storage and below the web and the alert service
(issue #36): who may act on a rectification order, how 督办 climbs the ladder, and, to come, filing,
the register of people, enforcement and disclosure. Pure decisions over rows and `now`; the SQL stays
in storage."""
