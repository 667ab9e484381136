"""``facesearch audit``, ``policy``, ``suppress`` and ``purge``: oversight and administration."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from facesearch.app.types import EntryFilter, PolicyError, load_policy
from facesearch.app.types import checkpoint as ckpt
from facesearch.cli.common import NO_CREDENTIAL, Credential, authenticated, read_probe, shown
from facesearch.cli.compliance import purge_collections
from facesearch.cli.groups import (
    PeriodChoice,
    ServiceFactory,
    acting_with,
    fail,
    guard,
    principal_for,
    when,
)
from facesearch.cli.suppress_models import add_enrol_command


class OutcomeChoice(StrEnum):
    """Outcomes of audit entries, for ``audit entries --outcome``."""

    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"


def build_oversight_apps(factory: ServiceFactory) -> dict[str, typer.Typer]:
    """The ``audit``, ``policy`` and ``suppress`` command groups."""
    acting = acting_with(factory)

    # --- audit --------------------------------------------------------------------------------
    audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)

    @audit_app.command("verify")
    @guard
    @authenticated
    def audit_verify(
        ctx: typer.Context,
        anchor: Annotated[
            list[str] | None,
            typer.Option(
                metavar="SEQ:HASH",
                help="A head kept outside the database (repeatable).",
                show_default=False,
            ),
        ] = None,
        checkpoint: Annotated[
            list[Path] | None,
            typer.Option(
                "--checkpoint",
                metavar="FILE",
                help="A signed checkpoint the log must still hold (repeatable).",
                show_default=False,
            ),
        ] = None,
        public_key: Annotated[
            Path | None,
            typer.Option(
                "--public-key",
                envvar=ckpt.PUBLIC_KEY_ENV,
                metavar="FILE",
                help="The trusted public key the checkpoints must be signed with (KEY.pub "
                f"from keygen; or {ckpt.PUBLIC_KEY_ENV}).",
                show_default=False,
            ),
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Verify the hash chain and any signed checkpoints.

        Exit status 3 if the log is broken or fails a checkpoint (entries deleted, altered),
        1 if a checkpoint itself cannot be trusted (unreadable, another key, altered).
        """
        anchors: dict[int, str] = {}
        for a in anchor or []:
            seq, _, h = a.partition(":")
            if not seq.isdigit() or len(h) != 64:
                raise typer.BadParameter(f"anchor must be SEQ:HASH, got {a!r}")
            anchors[int(seq)] = h.lower()
        trusted = ckpt.load_public_key(public_key) if public_key is not None else None
        service, who = acting(ctx, cred)
        result = service.admin.verify_audit(who, anchors, list(checkpoint or []), trusted)
        typer.echo(result.summary())
        for bad_seq, problem in result.problems[1:]:
            typer.echo(f"  also #{bad_seq}: {problem}")
        for p in result.checkpoint_problems:
            what = "refused" if p.forged else "FAILED"
            typer.echo(f"  checkpoint {p.source} {what}: {p.problem}")
        for source in result.checkpoints_verified:
            typer.echo(f"  checkpoint {source}: held")
        if result.problems or any(not p.forged for p in result.checkpoint_problems):
            raise typer.Exit(3)
        if result.checkpoint_problems:
            raise typer.Exit(1)

    @audit_app.command("keygen")
    @guard
    def audit_keygen(
        out: Annotated[
            Path,
            typer.Option(
                "--out",
                metavar="KEYFILE",
                help="Private key to write (mode 0600; keep it outside the data directory); "
                "the public key goes to KEYFILE.pub.",
            ),
        ],
    ) -> None:
        """Make an Ed25519 key pair for signing audit checkpoints."""
        private_path, public_path, fp = ckpt.generate_key_files(out)
        typer.echo(f"wrote private key {private_path} (mode 0600) and public key {public_path}")
        typer.echo(f"key fingerprint {fp[:16]} (sha256 {fp})")
        typer.echo(public_path.read_text(encoding="ascii").rstrip())

    @audit_app.command("checkpoint")
    @guard
    @authenticated
    def audit_checkpoint(
        ctx: typer.Context,
        out: Annotated[
            Path,
            typer.Option("--out", metavar="FILE", help="Checkpoint file to write (JSON)."),
        ],
        key: Annotated[
            Path | None,
            typer.Option(
                "--key",
                metavar="KEYFILE",
                help=f"Signing key (default: ${ckpt.KEY_ENV}, a file, or ${ckpt.KEY_PEM_ENV}).",
                show_default=False,
            ),
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Sign the audit log's head (after verifying the chain) and write it to FILE."""
        service, who = acting(ctx, cred)
        cp, path = service.admin.checkpoint(who, out, key)
        typer.echo(
            f"checkpoint {path}: entry #{cp.seq} {cp.entry_hash}, signed {cp.signed_at}, "
            f"key {cp.fingerprint[:16]}"
        )

    @audit_app.command("report")
    @guard
    @authenticated
    def audit_report(
        ctx: typer.Context,
        since: Annotated[
            str | None,
            typer.Option(metavar="ISO-TIME", help="ISO date/time (UTC), inclusive."),
        ] = None,
        until: Annotated[
            str | None,
            typer.Option(metavar="ISO-TIME", help="ISO date/time (UTC), exclusive."),
        ] = None,
        period: Annotated[
            PeriodChoice, typer.Option(help="Figures per period.")
        ] = PeriodChoice.MONTH,
        as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Oversight figures by user, case, purpose and period, with anomalies."""
        service, who = acting(ctx, cred)
        rep = service.admin.oversight_report(who, when(since), when(until), period.value)
        if as_json:
            typer.echo(json.dumps(rep.as_dict(), indent=2, sort_keys=True))
        else:
            typer.echo(rep.to_text())

    @audit_app.command("entries")
    @guard
    @authenticated
    def audit_entries(
        ctx: typer.Context,
        actor: Annotated[
            str | None, typer.Option(metavar="USER", help="Entries by this user.")
        ] = None,
        action: Annotated[
            str | None,
            typer.Option(metavar="ACTION", help="This action (e.g. search, case.open)."),
        ] = None,
        action_prefix: Annotated[
            str | None,
            typer.Option(metavar="PREFIX", help="Actions starting with PREFIX (e.g. case.)."),
        ] = None,
        case: Annotated[
            str | None, typer.Option(metavar="CASE", help="Entries about this case.")
        ] = None,
        since: Annotated[
            str | None,
            typer.Option(metavar="ISO-TIME", help="ISO date/time (UTC), inclusive."),
        ] = None,
        until: Annotated[
            str | None,
            typer.Option(metavar="ISO-TIME", help="ISO date/time (UTC), exclusive."),
        ] = None,
        outcome: Annotated[
            OutcomeChoice | None,
            typer.Option(help="ok, refused or failed entries only.", show_default=False),
        ] = None,
        limit: Annotated[int, typer.Option(min=1, max=10_000, help="Entries shown.")] = 50,
        offset: Annotated[int, typer.Option(min=0, help="Newest entries skipped.")] = 0,
        csv_file: Annotated[
            Path | None,
            typer.Option(
                "--csv",
                metavar="FILE",
                help="Write every matching entry to FILE as CSV (logged as audit.export).",
                show_default=False,
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Audit entries, newest first, filtered (auditors, supervisors, administrators)."""
        f = EntryFilter(
            actor,
            action,
            action_prefix,
            case,
            when(since),
            when(until),
            outcome.value if outcome is not None else None,
        )
        service, who = acting(ctx, cred)
        if csv_file is not None:
            text, rows = service.admin.export_audit_entries(who, f)
            csv_file.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {rows} audit entries to {csv_file}")
            return
        items, total = service.admin.audit_entries(who, f, limit, offset)
        if as_json:
            typer.echo(json.dumps({"items": items, "total": total}, indent=2, sort_keys=True))
            return
        for e in items:
            line = f"#{e['seq']:<7} {e['ts'][:19]}Z {e['actor']:<16} {e['summary']}"
            typer.echo(shown(line, markup=False))
        typer.echo(f"{len(items)} of {total} entries (offset {offset})")

    # --- policy -------------------------------------------------------------------------------
    policy_app = typer.Typer(help="The governance policy.", no_args_is_help=True)

    @policy_app.command("show")
    @guard
    def policy_show(ctx: typer.Context) -> None:
        """Show the policy in force (and whether a different policy file waits for approval)."""
        service = factory(ctx)
        in_force, file, change_id = service.admin.policy_status(service.accounts.local_operator())
        typer.echo(in_force.describe())
        if file.sha256 != in_force.sha256:
            waiting = (
                f"pending as change {change_id}: two administrators must approve it "
                f"('facesearch policy approve' or 'facesearch change approve {change_id}')"
                if change_id is not None
                else "not pending (a change for it was decided): edit the file to ask again"
            )
            typer.echo(
                f"NOTE: the policy file {file.source} (sha256 {file.sha256}) differs from the "
                f"policy in force and is not used; {waiting}"
            )

    @policy_app.command("approve")
    @guard
    @authenticated
    def policy_approve(
        ctx: typer.Context,
        note: Annotated[str, typer.Option(metavar="TEXT", help="Why (logged).")] = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Approve the pending policy file (administrators; two must approve).

        The first approval endorses it, a second administrator's puts it in force."""
        service, who = acting(ctx, cred)
        view = service.admin.approve_policy(who, note)
        typer.echo(shown(view.message, markup=False))

    @policy_app.command("check")
    def policy_check(file: Path) -> None:
        """Validate a policy file without using it; lists every problem by field."""
        try:
            policy = load_policy(file)
        except PolicyError as exc:
            fail(str(exc), 1)
            return
        typer.echo(f"policy OK: {file} (sha256 {policy.sha256})")
        typer.echo(policy.describe())

    # --- suppress -----------------------------------------------------------------------------
    suppress_app = typer.Typer(
        help="Removal on request, and suppression from ingest and results.", no_args_is_help=True
    )

    @suppress_app.command("preview")
    @guard
    @authenticated
    def suppress_preview(
        ctx: typer.Context,
        requester: Annotated[
            str, typer.Option(metavar="TEXT", help="Who asked (person, counsel, authority).")
        ],
        reason: Annotated[str, typer.Option(metavar="TEXT", help="Why (e.g. request reference).")],
        image: Annotated[
            list[Path] | None,
            typer.Option(
                metavar="PHOTO", help="Photo of the person (repeatable).", show_default=False
            ),
        ] = None,
        embeddings: Annotated[
            Path | None,
            typer.Option(
                metavar="FILE.npy", help=".npy file of (n, d) embeddings, instead of images."
            ),
        ] = None,
        model: Annotated[
            str | None, typer.Option(metavar="MODEL", help="Model key of --embeddings.")
        ] = None,
        threshold: Annotated[
            float | None,
            typer.Option(metavar="SCORE", help="Similarity threshold (default: the policy's)."),
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """List the gallery faces matching a person, for a human to check before apply."""
        if not image and (embeddings is None or not model):
            raise typer.BadParameter("give --image PATH, or --embeddings FILE.npy and --model")
        service, who = acting(ctx, cred)
        if image:
            photos = [read_probe(p, service.settings.max_probe_bytes, "photo") for p in image]
            request_id, matches = service.admin.preview_removal(
                who, photos, requester, reason, names=[str(p) for p in image], threshold=threshold
            )
        else:
            assert embeddings is not None and model
            vecs = np.load(embeddings, allow_pickle=False)
            request_id, matches = service.admin.preview_removal_embeddings(
                who, vecs, model, requester, reason, threshold=threshold
            )
        typer.echo(f"removal request {request_id}: {len(matches)} matching faces")
        for m in matches:
            typer.echo(
                f"  face {m.face_id:<8} score {m.score:.4f} image {m.image_sha256 or '-'} "
                f"{shown(m.image_path or '', markup=False)}"
            )
        typer.echo(
            f"check them, then: suppress apply {request_id} [--face ID ...] "
            f"(or suppress cancel {request_id})"
        )

    @suppress_app.command("apply")
    @guard
    @authenticated
    def suppress_apply(
        ctx: typer.Context,
        request_id: int,
        face: Annotated[
            list[int] | None,
            typer.Option(
                metavar="FACE_ID",
                help="Only this previewed face (repeatable; default: all).",
                show_default=False,
            ),
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Suppress the person and remove the confirmed faces."""
        service, who = acting(ctx, cred)
        removed = service.admin.apply_removal(who, request_id, face or None)
        typer.echo(f"request {request_id}: suppressed; removed {len(removed)} faces {removed}")

    @suppress_app.command("cancel")
    @guard
    @authenticated
    def suppress_cancel(
        ctx: typer.Context,
        request_id: int,
        note: Annotated[str, typer.Option(metavar="TEXT", help="A note kept with the act.")] = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Cancel a previewed request (nothing removed or suppressed)."""
        service, who = acting(ctx, cred)
        service.admin.cancel_removal(who, request_id, note)
        typer.echo(f"request {request_id} cancelled")

    add_enrol_command(suppress_app, factory)
    return {"audit": audit_app, "policy": policy_app, "suppress": suppress_app}


def make_purge_command(factory: ServiceFactory) -> Callable[..., None]:
    @guard
    @authenticated
    def purge(
        ctx: typer.Context,
        now: Annotated[
            str | None,
            typer.Option(metavar="ISO-TIME", help="Purge as of this ISO time (default: now)."),
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Delete probe images and search results whose retention period has ended."""
        service = factory(ctx)
        who = principal_for(service, cred)
        r = service.admin.purge(who, when(now))
        receipts = service.authorisations.enforce(who, when(now))  # urgent uses past deadline
        typer.echo(f"{len(receipts)} urgent use(s) past their deadline: searches deleted")
        typer.echo(
            f"purged {r.probes_purged} probe images and the results of {r.searches_purged} "
            f"searches ({r.candidates_deleted} candidates, {r.reviews_deleted} reviews) in "
            f"{len(r.cases)} cases; audit entry #{r.audit_seq}"
        )
        purge_collections(service, principal_for(service, cred), when(now))  # retention rules

    return purge
