-- The schema at head, written by `python -m support.schema` (pg_dump --schema-only of a
-- fresh database migrated by alembic). Read it; never apply it: migrations/versions/ is
-- how a database changes.

CREATE FUNCTION public.attempt_hours_added() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), outcome, count(*) FROM added AS batch WHERE true GROUP BY 1, 2; INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, 'UTC'), outcome, count(*) FROM added AS batch WHERE outcome <> 'sent' AND true GROUP BY 1, 2; INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', batch.attempted_at, 'UTC'), 'retried', count(*) FROM added AS batch JOIN outbox ON outbox.id = batch.outbox_id WHERE batch.outcome IN ('transient', 'permanent') AND outbox.status = 'sent' GROUP BY 1; RETURN NULL; END $$;

CREATE FUNCTION public.attempt_hours_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), outcome, -count(*) FROM (SELECT OLD.outbox_id AS outbox_id, OLD.attempted_at AS attempted_at, OLD.outcome AS outcome) AS batch WHERE attempted_at > now() - interval '26 hours' GROUP BY 1, 2; INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, 'UTC'), outcome, -count(*) FROM (SELECT OLD.outbox_id AS outbox_id, OLD.attempted_at AS attempted_at, OLD.outcome AS outcome) AS batch WHERE outcome <> 'sent' AND attempted_at > now() - interval '2 hours' GROUP BY 1, 2; INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), outcome, count(*) FROM (SELECT NEW.outbox_id AS outbox_id, NEW.attempted_at AS attempted_at, NEW.outcome AS outcome) AS batch WHERE true GROUP BY 1, 2; INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, 'UTC'), outcome, count(*) FROM (SELECT NEW.outbox_id AS outbox_id, NEW.attempted_at AS attempted_at, NEW.outcome AS outcome) AS batch WHERE outcome <> 'sent' AND true GROUP BY 1, 2; INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', OLD.attempted_at, 'UTC'), 'retried', -1 WHERE OLD.outcome IN ('transient', 'permanent') AND EXISTS (SELECT 1 FROM outbox WHERE id = NEW.outbox_id AND status = 'sent'); INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', NEW.attempted_at, 'UTC'), 'retried', 1 WHERE NEW.outcome IN ('transient', 'permanent') AND EXISTS (SELECT 1 FROM outbox WHERE id = NEW.outbox_id AND status = 'sent'); RETURN NULL; END $$;

CREATE FUNCTION public.attempt_hours_removed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), outcome, -count(*) FROM removed AS batch WHERE attempted_at > now() - interval '26 hours' GROUP BY 1, 2; INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, 'UTC'), outcome, -count(*) FROM removed AS batch WHERE outcome <> 'sent' AND attempted_at > now() - interval '2 hours' GROUP BY 1, 2; RETURN NULL; END $$;

CREATE FUNCTION public.outbox_counts_added() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO outbox_counts (status, channel, resolved, n) SELECT status, channel, resolution IS NOT NULL, count(*) FROM added AS batch GROUP BY 1, 2, 3; INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', sent_at, 'UTC'), 'sent', count(*) FROM added AS batch WHERE status = 'sent' AND true AND sent_at IS NOT NULL GROUP BY 1; INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', dead_at, 'UTC'), 'dead', count(*) FROM added AS batch WHERE status = 'dead' AND true AND dead_at IS NOT NULL GROUP BY 1; RETURN NULL; END $$;

CREATE FUNCTION public.outbox_counts_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO outbox_counts (status, channel, resolved, n) SELECT status, channel, resolved, sum(n) FROM (SELECT old_status AS status, old_channel AS channel, old_resolved AS resolved, -1 AS n FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, old_rows.channel AS old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS old_dead_at, old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> (new_rows.resolution IS NULL)) AS changes UNION ALL SELECT new_status, new_channel, new_resolved, 1 FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, old_rows.channel AS old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS old_dead_at, old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> (new_rows.resolution IS NULL)) AS changes) AS moves GROUP BY 1, 2, 3 HAVING sum(n) <> 0; INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', a.attempted_at, 'UTC'), 'retried', sum(CASE WHEN new_status = 'sent' THEN 1 ELSE -1 END) FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, old_rows.channel AS old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS old_dead_at, old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> (new_rows.resolution IS NULL)) AS changes JOIN outbox_attempts AS a ON a.outbox_id = changes.id WHERE ((old_status = 'sent' AND new_status <> 'sent') OR (new_status = 'sent' AND old_status <> 'sent')) AND a.outcome IN ('transient', 'permanent') GROUP BY 1; INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', old_sent_at, 'UTC'), 'sent', -count(*) FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, old_rows.channel AS old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS old_dead_at, old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> (new_rows.resolution IS NULL)) AS changes WHERE old_status = 'sent' AND new_status <> 'sent' AND old_sent_at IS NOT NULL GROUP BY 1; INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', new_sent_at, 'UTC'), 'sent', count(*) FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, old_rows.channel AS old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS old_dead_at, old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> (new_rows.resolution IS NULL)) AS changes WHERE new_status = 'sent' AND old_status <> 'sent' AND new_sent_at IS NOT NULL GROUP BY 1; INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', old_dead_at, 'UTC'), 'dead', -count(*) FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, old_rows.channel AS old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS old_dead_at, old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> (new_rows.resolution IS NULL)) AS changes WHERE old_status = 'dead' AND new_status <> 'dead' AND old_dead_at IS NOT NULL GROUP BY 1; INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', new_dead_at, 'UTC'), 'dead', count(*) FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, old_rows.channel AS old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS old_dead_at, old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> (new_rows.resolution IS NULL)) AS changes WHERE new_status = 'dead' AND old_status <> 'dead' AND new_dead_at IS NOT NULL GROUP BY 1; RETURN NULL; END $$;

CREATE FUNCTION public.outbox_counts_removed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO outbox_counts (status, channel, resolved, n) SELECT status, channel, resolution IS NOT NULL, -count(*) FROM removed AS batch GROUP BY 1, 2, 3; INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', sent_at, 'UTC'), 'sent', -count(*) FROM removed AS batch WHERE status = 'sent' AND sent_at > now() - interval '2 hours' AND sent_at IS NOT NULL GROUP BY 1; INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', dead_at, 'UTC'), 'dead', -count(*) FROM removed AS batch WHERE status = 'dead' AND dead_at > now() - interval '2 hours' AND dead_at IS NOT NULL GROUP BY 1; RETURN NULL; END $$;

CREATE FUNCTION public.outbox_notify() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
        BEGIN
            PERFORM pg_notify('outbox', '');
            RETURN NULL;
        END
        $$;

CREATE FUNCTION public.outbox_retried_removed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), 'retried', -count(*) FROM outbox_attempts WHERE outbox_id = OLD.id AND outcome IN ('transient', 'permanent') GROUP BY 1; RETURN OLD; END $$;

CREATE FUNCTION public.suppression_counts_added() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO suppression_counts (n) SELECT count(*) FROM added AS batch HAVING count(*) > 0; RETURN NULL; END $$;

CREATE FUNCTION public.suppression_counts_removed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO suppression_counts (n) SELECT -count(*) FROM removed AS batch HAVING count(*) > 0; RETURN NULL; END $$;

CREATE TABLE public.account_events (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    type character varying(40) NOT NULL,
    at timestamp with time zone NOT NULL,
    client text,
    detail json
);

CREATE SEQUENCE public.account_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.account_events_id_seq OWNED BY public.account_events.id;

CREATE TABLE public.alembic_version (
    version_num character varying(32) NOT NULL
);

CREATE TABLE public.attempt_hours (
    id bigint NOT NULL,
    hour timestamp with time zone NOT NULL,
    outcome character varying(20) NOT NULL,
    n bigint NOT NULL
);

CREATE SEQUENCE public.attempt_hours_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.attempt_hours_id_seq OWNED BY public.attempt_hours.id;

CREATE TABLE public.idempotency_keys (
    key character varying(64) NOT NULL,
    request_hmac character varying(64) NOT NULL,
    response json,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE public.keyring (
    name character varying(20) NOT NULL,
    value text NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE public.minute_counts (
    id bigint NOT NULL,
    minute timestamp with time zone NOT NULL,
    kind character varying(20) NOT NULL,
    n bigint NOT NULL
);

CREATE SEQUENCE public.minute_counts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.minute_counts_id_seq OWNED BY public.minute_counts.id;

CREATE TABLE public.operator_actions (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    actor character varying(200) NOT NULL,
    action character varying(40) NOT NULL,
    target character varying(100),
    details json
);

CREATE SEQUENCE public.operator_actions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.operator_actions_id_seq OWNED BY public.operator_actions.id;

CREATE TABLE public.outbox (
    id bigint NOT NULL,
    public_id character varying(36) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    channel character varying(10) NOT NULL,
    purpose character varying(40) NOT NULL,
    recipient character varying(254) NOT NULL,
    locale character varying(35) NOT NULL,
    template character varying(50) NOT NULL,
    params json NOT NULL,
    secret_params text,
    user_id bigint,
    token_id bigint,
    status character varying(20) NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL,
    locked_until timestamp with time zone,
    claim_token character varying(32),
    expires_at timestamp with time zone,
    sent_at timestamp with time zone,
    dead_reason character varying(20),
    last_error text,
    resolution character varying(10),
    resolved_at timestamp with time zone,
    replaced_by character varying(36),
    priority smallint DEFAULT '1'::smallint NOT NULL,
    provider_message_id character varying(200),
    recipient_hash character varying(64),
    withhold boolean DEFAULT false NOT NULL,
    refusal character varying(16),
    dead_at timestamp with time zone,
    fallback_at timestamp with time zone,
    fallback_id character varying(36),
    CONSTRAINT outbox_channel CHECK (((channel)::text = ANY ((ARRAY['email'::character varying, 'sms'::character varying, 'webhook'::character varying])::text[]))),
    CONSTRAINT outbox_dead_reason CHECK (((dead_reason IS NULL) OR ((dead_reason)::text = ANY ((ARRAY['permanent_error'::character varying, 'max_attempts'::character varying, 'expired'::character varying, 'suppressed'::character varying])::text[])))),
    CONSTRAINT outbox_purpose CHECK (((purpose)::text = ANY ((ARRAY['activation'::character varying, 'password_reset'::character varying, 'password_changed'::character varying, 'welcome'::character varying, 'account_exists'::character varying, 'no_account'::character varying, 'account.registered'::character varying, 'account.activated'::character varying, 'account.password_changed'::character varying, 'account.erased'::character varying, 'delivery.failed'::character varying, 'address_change'::character varying, 'address_changed'::character varying, 'account.address_changed'::character varying, 'login_code'::character varying, 'delivery.delivered'::character varying, 'account.address_removed'::character varying, 'delivery.sent'::character varying, 'provider.down'::character varying, 'provider.up'::character varying])::text[]))),
    CONSTRAINT outbox_resolution CHECK (((resolution IS NULL) OR ((resolution)::text = ANY ((ARRAY['retried'::character varying, 'discarded'::character varying])::text[])))),
    CONSTRAINT outbox_status CHECK (((status)::text = ANY ((ARRAY['pending'::character varying, 'sent'::character varying, 'dead'::character varying, 'cancelled'::character varying, 'bounced'::character varying, 'withheld'::character varying])::text[])))
);

CREATE TABLE public.outbox_attempts (
    id bigint NOT NULL,
    outbox_id bigint NOT NULL,
    attempted_at timestamp with time zone NOT NULL,
    outcome character varying(20) NOT NULL,
    error text,
    duration_ms integer NOT NULL,
    CONSTRAINT outbox_attempts_outcome CHECK (((outcome)::text = ANY ((ARRAY['sent'::character varying, 'transient'::character varying, 'permanent'::character varying, 'expired'::character varying, 'provider_down'::character varying])::text[])))
);

CREATE SEQUENCE public.outbox_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.outbox_attempts_id_seq OWNED BY public.outbox_attempts.id;

CREATE TABLE public.outbox_counts (
    id bigint NOT NULL,
    status character varying(20) NOT NULL,
    channel character varying(10) NOT NULL,
    resolved boolean NOT NULL,
    n bigint NOT NULL
);

CREATE SEQUENCE public.outbox_counts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.outbox_counts_id_seq OWNED BY public.outbox_counts.id;

CREATE VIEW public.outbox_dead_letters AS
 SELECT outbox.id,
    outbox.public_id,
    outbox.created_at,
    outbox.channel,
    outbox.purpose,
    outbox.recipient,
    outbox.locale,
    outbox.user_id,
    outbox.status,
    outbox.attempts,
    outbox.dead_reason,
    outbox.last_error,
    outbox.resolution,
    outbox.resolved_at,
    outbox.replaced_by,
    ( SELECT max(a.attempted_at) AS max
           FROM public.outbox_attempts a
          WHERE (a.outbox_id = outbox.id)) AS last_attempt_at
   FROM public.outbox
  WHERE ((outbox.status)::text = ANY ((ARRAY['dead'::character varying, 'bounced'::character varying])::text[]));

CREATE SEQUENCE public.outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.outbox_id_seq OWNED BY public.outbox.id;

CREATE TABLE public.provider_events (
    id bigint NOT NULL,
    outbox_id bigint NOT NULL,
    type character varying(20) NOT NULL,
    permanent boolean NOT NULL,
    diagnostic text,
    source character varying(20) NOT NULL,
    at timestamp with time zone NOT NULL,
    CONSTRAINT event_type CHECK (((type)::text = ANY ((ARRAY['bounce'::character varying, 'complaint'::character varying, 'delivery'::character varying])::text[])))
);

CREATE SEQUENCE public.provider_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.provider_events_id_seq OWNED BY public.provider_events.id;

CREATE TABLE public.provider_notifications (
    source character varying(20) NOT NULL,
    notification_id character varying(100) NOT NULL,
    received_at timestamp with time zone NOT NULL
);

CREATE TABLE public.provider_pauses (
    provider character varying(20) NOT NULL,
    paused_by character varying(10) NOT NULL,
    actor character varying(200),
    why text NOT NULL,
    since timestamp with time zone NOT NULL,
    until timestamp with time zone,
    told_at timestamp with time zone
);

CREATE TABLE public.provider_slots (
    provider character varying(20) NOT NULL,
    next_at double precision NOT NULL
);

CREATE TABLE public.suppression_counts (
    id bigint NOT NULL,
    n bigint NOT NULL
);

CREATE SEQUENCE public.suppression_counts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.suppression_counts_id_seq OWNED BY public.suppression_counts.id;

CREATE TABLE public.suppressions (
    id bigint NOT NULL,
    address character varying(254),
    address_hash character varying(64) NOT NULL,
    reason character varying(20) NOT NULL,
    source character varying(20) NOT NULL,
    event_id bigint,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT suppression_reason CHECK (((reason)::text = ANY ((ARRAY['hard_bounce'::character varying, 'complaint'::character varying, 'rejected'::character varying, 'unsubscribed'::character varying])::text[])))
);

CREATE SEQUENCE public.suppressions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.suppressions_id_seq OWNED BY public.suppressions.id;

CREATE TABLE public.throttle_events (
    id bigint NOT NULL,
    key character varying(64) NOT NULL,
    at timestamp with time zone NOT NULL
);

CREATE SEQUENCE public.throttle_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.throttle_events_id_seq OWNED BY public.throttle_events.id;

CREATE TABLE public.users (
    id bigint NOT NULL,
    email character varying(254),
    phone character varying(16),
    password_hash character varying(255) NOT NULL,
    full_name character varying(200),
    locale character varying(35) NOT NULL,
    status character varying(20) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    activated_at timestamp with time zone,
    email_proven_at timestamp with time zone,
    phone_proven_at timestamp with time zone,
    contested boolean DEFAULT false NOT NULL,
    CONSTRAINT users_has_address CHECK (((email IS NOT NULL) OR (phone IS NOT NULL))),
    CONSTRAINT users_status CHECK (((status)::text = ANY ((ARRAY['pending'::character varying, 'active'::character varying])::text[])))
);

CREATE SEQUENCE public.users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;

CREATE TABLE public.verification_tokens (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    purpose character varying(20) NOT NULL,
    code_hmac character varying(64) NOT NULL,
    status character varying(20) NOT NULL,
    failed_attempts integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    address character varying(254),
    link_hmac character varying(64),
    CONSTRAINT verification_tokens_purpose CHECK (((purpose)::text = ANY ((ARRAY['activation'::character varying, 'password_reset'::character varying, 'address_change'::character varying, 'login_code'::character varying])::text[]))),
    CONSTRAINT verification_tokens_status CHECK (((status)::text = ANY ((ARRAY['active'::character varying, 'used'::character varying, 'superseded'::character varying, 'dead'::character varying])::text[])))
);

CREATE SEQUENCE public.verification_tokens_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.verification_tokens_id_seq OWNED BY public.verification_tokens.id;

CREATE TABLE public.webhook_endpoints (
    id bigint NOT NULL,
    public_id character varying(36) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    url text NOT NULL,
    events json NOT NULL,
    sealed text NOT NULL
);

CREATE SEQUENCE public.webhook_endpoints_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.webhook_endpoints_id_seq OWNED BY public.webhook_endpoints.id;

ALTER TABLE ONLY public.account_events ALTER COLUMN id SET DEFAULT nextval('public.account_events_id_seq'::regclass);

ALTER TABLE ONLY public.attempt_hours ALTER COLUMN id SET DEFAULT nextval('public.attempt_hours_id_seq'::regclass);

ALTER TABLE ONLY public.minute_counts ALTER COLUMN id SET DEFAULT nextval('public.minute_counts_id_seq'::regclass);

ALTER TABLE ONLY public.operator_actions ALTER COLUMN id SET DEFAULT nextval('public.operator_actions_id_seq'::regclass);

ALTER TABLE ONLY public.outbox ALTER COLUMN id SET DEFAULT nextval('public.outbox_id_seq'::regclass);

ALTER TABLE ONLY public.outbox_attempts ALTER COLUMN id SET DEFAULT nextval('public.outbox_attempts_id_seq'::regclass);

ALTER TABLE ONLY public.outbox_counts ALTER COLUMN id SET DEFAULT nextval('public.outbox_counts_id_seq'::regclass);

ALTER TABLE ONLY public.provider_events ALTER COLUMN id SET DEFAULT nextval('public.provider_events_id_seq'::regclass);

ALTER TABLE ONLY public.suppression_counts ALTER COLUMN id SET DEFAULT nextval('public.suppression_counts_id_seq'::regclass);

ALTER TABLE ONLY public.suppressions ALTER COLUMN id SET DEFAULT nextval('public.suppressions_id_seq'::regclass);

ALTER TABLE ONLY public.throttle_events ALTER COLUMN id SET DEFAULT nextval('public.throttle_events_id_seq'::regclass);

ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);

ALTER TABLE ONLY public.verification_tokens ALTER COLUMN id SET DEFAULT nextval('public.verification_tokens_id_seq'::regclass);

ALTER TABLE ONLY public.webhook_endpoints ALTER COLUMN id SET DEFAULT nextval('public.webhook_endpoints_id_seq'::regclass);

ALTER TABLE ONLY public.account_events
    ADD CONSTRAINT account_events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);

ALTER TABLE ONLY public.attempt_hours
    ADD CONSTRAINT attempt_hours_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (key);

ALTER TABLE ONLY public.keyring
    ADD CONSTRAINT keyring_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.minute_counts
    ADD CONSTRAINT minute_counts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.operator_actions
    ADD CONSTRAINT operator_actions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.outbox_attempts
    ADD CONSTRAINT outbox_attempts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.outbox_counts
    ADD CONSTRAINT outbox_counts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_public_id_key UNIQUE (public_id);

ALTER TABLE ONLY public.provider_events
    ADD CONSTRAINT provider_events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.provider_notifications
    ADD CONSTRAINT provider_notifications_pkey PRIMARY KEY (source, notification_id);

ALTER TABLE ONLY public.provider_pauses
    ADD CONSTRAINT provider_pauses_pkey PRIMARY KEY (provider);

ALTER TABLE ONLY public.provider_slots
    ADD CONSTRAINT provider_slots_pkey PRIMARY KEY (provider);

ALTER TABLE ONLY public.suppression_counts
    ADD CONSTRAINT suppression_counts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.suppressions
    ADD CONSTRAINT suppressions_address_hash_key UNIQUE (address_hash);

ALTER TABLE ONLY public.suppressions
    ADD CONSTRAINT suppressions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.throttle_events
    ADD CONSTRAINT throttle_events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.verification_tokens
    ADD CONSTRAINT verification_tokens_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_public_id_key UNIQUE (public_id);

CREATE INDEX account_events_at ON public.account_events USING btree (at);

CREATE INDEX account_events_user_id ON public.account_events USING btree (user_id, id);

CREATE INDEX attempt_hours_hour ON public.attempt_hours USING btree (hour);

CREATE INDEX idempotency_keys_created_at ON public.idempotency_keys USING btree (created_at);

CREATE INDEX minute_counts_minute ON public.minute_counts USING btree (minute);

CREATE INDEX operator_actions_at ON public.operator_actions USING btree (at);

CREATE INDEX outbox_activations ON public.outbox USING btree (user_id, id) WHERE ((purpose)::text = 'activation'::text);

CREATE INDEX outbox_attempts_attempted_at ON public.outbox_attempts USING btree (attempted_at);

CREATE INDEX outbox_attempts_failed ON public.outbox_attempts USING btree (attempted_at) INCLUDE (outcome, outbox_id) WHERE ((outcome)::text <> 'sent'::text);

CREATE INDEX outbox_attempts_outbox ON public.outbox_attempts USING btree (outbox_id);

CREATE INDEX outbox_bounced ON public.outbox USING btree (created_at) WHERE ((status)::text = 'bounced'::text);

CREATE INDEX outbox_cancelled ON public.outbox USING btree (created_at) WHERE ((status)::text = 'cancelled'::text);

CREATE INDEX outbox_dead ON public.outbox USING btree (created_at) WHERE ((status)::text = 'dead'::text);

CREATE INDEX outbox_dead_at ON public.outbox USING btree (dead_at) WHERE ((status)::text = 'dead'::text);

CREATE INDEX outbox_due ON public.outbox USING btree (priority, next_attempt_at) WHERE ((status)::text = 'pending'::text);

CREATE INDEX outbox_events_dead ON public.outbox USING btree (user_id) WHERE (((purpose)::text = 'account.activated'::text) AND ((status)::text = 'dead'::text) AND (resolution IS NULL));

CREATE INDEX outbox_pending_created ON public.outbox USING btree (created_at) WHERE ((status)::text = 'pending'::text);

CREATE INDEX outbox_provider_message_id ON public.outbox USING btree (provider_message_id);

CREATE INDEX outbox_recipient_id ON public.outbox USING btree (recipient, id);

CREATE INDEX outbox_recipient_purpose ON public.outbox USING btree (recipient, purpose, created_at);

CREATE INDEX outbox_sent_at ON public.outbox USING btree (sent_at) WHERE ((status)::text = 'sent'::text);

CREATE INDEX outbox_token ON public.outbox USING btree (token_id);

CREATE INDEX outbox_unresolved ON public.outbox USING btree (id) WHERE (((status)::text = ANY ((ARRAY['dead'::character varying, 'bounced'::character varying])::text[])) AND (resolution IS NULL));

CREATE INDEX outbox_user ON public.outbox USING btree (user_id);

CREATE INDEX outbox_withheld ON public.outbox USING btree (sent_at) WHERE ((status)::text = 'withheld'::text);

CREATE INDEX provider_events_outbox ON public.provider_events USING btree (outbox_id);

CREATE INDEX provider_notifications_received_at ON public.provider_notifications USING btree (received_at);

CREATE INDEX suppressions_address ON public.suppressions USING btree (address);

CREATE INDEX suppressions_created ON public.suppressions USING btree (created_at, id);

CREATE INDEX suppressions_event ON public.suppressions USING btree (event_id);

CREATE INDEX throttle_events_at ON public.throttle_events USING btree (at);

CREATE INDEX throttle_events_key_at ON public.throttle_events USING btree (key, at);

CREATE INDEX users_email ON public.users USING btree (email);

CREATE UNIQUE INDEX users_email_held ON public.users USING btree (email) WHERE (((status)::text = 'pending'::text) OR (email_proven_at IS NOT NULL));

CREATE INDEX users_pending_created_at ON public.users USING btree (status, created_at);

CREATE INDEX users_phone ON public.users USING btree (phone);

CREATE UNIQUE INDEX users_phone_held ON public.users USING btree (phone) WHERE (((status)::text = 'pending'::text) OR (phone_proven_at IS NOT NULL));

CREATE INDEX verification_tokens_user_purpose ON public.verification_tokens USING btree (user_id, purpose);

CREATE TRIGGER attempt_hours_added AFTER INSERT ON public.outbox_attempts REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION public.attempt_hours_added();

CREATE TRIGGER attempt_hours_changed AFTER UPDATE OF outcome, attempted_at ON public.outbox_attempts FOR EACH ROW WHEN ((((old.outcome)::text <> (new.outcome)::text) OR (old.attempted_at <> new.attempted_at))) EXECUTE FUNCTION public.attempt_hours_changed();

CREATE TRIGGER attempt_hours_removed AFTER DELETE ON public.outbox_attempts REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION public.attempt_hours_removed();

CREATE TRIGGER outbox_counts_added AFTER INSERT ON public.outbox REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION public.outbox_counts_added();

CREATE TRIGGER outbox_counts_changed AFTER UPDATE ON public.outbox REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.outbox_counts_changed();

CREATE TRIGGER outbox_counts_removed AFTER DELETE ON public.outbox REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION public.outbox_counts_removed();

CREATE TRIGGER outbox_notify AFTER INSERT ON public.outbox FOR EACH STATEMENT EXECUTE FUNCTION public.outbox_notify();

CREATE TRIGGER outbox_retried_removed BEFORE DELETE ON public.outbox FOR EACH ROW WHEN ((((old.status)::text = 'sent'::text) AND (old.sent_at > (now() - '25:00:00'::interval)))) EXECUTE FUNCTION public.outbox_retried_removed();

CREATE TRIGGER suppression_counts_added AFTER INSERT ON public.suppressions REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION public.suppression_counts_added();

CREATE TRIGGER suppression_counts_removed AFTER DELETE ON public.suppressions REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION public.suppression_counts_removed();

ALTER TABLE ONLY public.account_events
    ADD CONSTRAINT account_events_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.outbox_attempts
    ADD CONSTRAINT outbox_attempts_outbox_id_fkey FOREIGN KEY (outbox_id) REFERENCES public.outbox(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_token_id_fkey FOREIGN KEY (token_id) REFERENCES public.verification_tokens(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.provider_events
    ADD CONSTRAINT provider_events_outbox_id_fkey FOREIGN KEY (outbox_id) REFERENCES public.outbox(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.suppressions
    ADD CONSTRAINT suppressions_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.provider_events(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.verification_tokens
    ADD CONSTRAINT verification_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;
