-- The intake's last gap (CONTRACT §4 "The intake's clock"): since when each ingest worker has been
-- connected to the broker, and up to when it had stored everything before its link last dropped (or
-- before it last stopped). With the broker itself down, what devices sent meanwhile never reached it:
-- the web counts a device's silence without the time no worker could hear, as the alert engine does,
-- so that a platform outage does not show long-heartbeat devices offline until their next report.
ALTER TABLE intake_clock
    ADD COLUMN listening_since timestamptz,  -- its current connection's start; NULL while disconnected
    ADD COLUMN deaf_from timestamptz;        -- caught up to here when it last lost the broker (or stopped)
