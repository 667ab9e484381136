// The authorisation of a case's searches (issue 24): the "Authorisation" section of a case
// page (record one with the scan of its document, its status, an urgent use's deadline
// counting down, the deletion receipt when its searches were deleted) and the supervisors'
// list of urgent uses awaiting their authorisation (the approvals page).
import { api, url } from "../api.js";
import { field, formatTime, h, input, replace, select, table } from "../dom.js";
import { withButton } from "./common.js";

const KINDS = [
  ["judicial_warrant", "Judicial warrant"],
  ["administrative", "Binding administrative authorisation"],
  ["urgent", "Urgent use pending authorisation"],
  ["not_required", "Not required (give the reason)"],
];

/** "1 d 3 h 12 min left" until `iso`, or "deadline passed". */
export function timeLeft(iso, now = Date.now()) {
  const ms = new Date(iso).getTime() - now;
  if (!(ms > 0)) return "deadline passed";
  const minutes = Math.floor(ms / 60000);
  const d = Math.floor(minutes / 1440);
  const hrs = Math.floor((minutes % 1440) / 60);
  const min = minutes % 60;
  return `${d ? `${d} d ` : ""}${hrs} h ${min} min left`;
}

/** A countdown kept current every 30 s while it is on the page. */
function countdown(iso) {
  const el = h("span", { class: "countdown" }, timeLeft(iso));
  const timer = window.setInterval(() => {
    if (!el.isConnected) window.clearInterval(timer);
    else el.textContent = timeLeft(iso);
  }, 30000);
  return el;
}

function statusWords(a) {
  if (a.kind === "urgent") {
    return {
      pending: "awaiting the authorisation",
      authorised: "authorised in time",
      refused: "refused: its searches were deleted",
      expired: "deadline missed: its searches were deleted",
    }[a.status] || a.status;
  }
  return a.status;
}

/** The case page's "Authorisation" section. */
export function authorisationSection(app, c) {
  const root = h("section", { id: "authorisation" }, h("h2", {}, "Authorisation"));
  const body = h("div", {});
  root.append(body);
  const mayRecord =
    (c.status === "open" || c.status === "pending") &&
    (app.has("supervisor") ||
      (app.has("investigator") && (c.requested_by === app.me.username || (c.assigned || []).includes(app.me.username))));
  async function refresh() {
    let items;
    try {
      items = await api("GET", `/cases/${encodeURIComponent(c.number)}/authorisations`);
    } catch (error) {
      replace(body, h("p", { class: "muted" }, `Authorisations unavailable: ${error.message}`));
      return;
    }
    const waiting = items.find((a) => a.awaiting);
    replace(
      body,
      waiting
        ? h(
            "p",
            { class: "card", id: "authorisation-deadline", role: "status" },
            h("strong", {}, "Urgent use: "),
            `the authorisation must be recorded by ${formatTime(waiting.deadline_at)} (`,
            countdown(waiting.deadline_at),
            "). Until then the results cannot be exported; past it, this use's probes, results and reviews are deleted.",
          )
        : null,
      items.length ? listTable(app, items, refresh) : h("p", { class: "muted" }, "No authorisation recorded."),
      mayRecord ? recordForm(app, c, refresh) : null,
    );
  }
  refresh();
  return root;
}

function listTable(app, items, refresh) {
  const rows = items.map((a) =>
    h(
      "tr",
      { dataset: { authorisation: String(a.id) } },
      h("td", {}, a.kind_label),
      h("td", {}, statusWords(a)),
      h("td", {}, [a.authority, a.reference].filter(Boolean).join(" — ") || a.reason || "—"),
      h("td", {}, a.issued_on ? formatTime(a.issued_on).slice(0, 10) : ""),
      h("td", {}, a.awaiting ? [formatTime(a.deadline_at), " ", countdown(a.deadline_at)] : a.deadline_at ? formatTime(a.deadline_at) : ""),
      h(
        "td",
        {},
        a.scan_sha256
          ? h("a", { href: url(`/authorisations/${a.id}/scan`), download: `authorisation-${a.id}` }, `Scan (${a.scan_type})`)
          : "",
      ),
      h("td", {}, `${a.recorded_by}, ${formatTime(a.recorded_at)}`),
      h("td", {}, validation(app, a, refresh)),
      h(
        "td",
        {},
        a.receipt_id
          ? h("a", { href: url(`/receipts/${a.receipt_id}`), download: `receipt-${a.receipt_id}.json` }, `Deletion receipt #${a.receipt_id}`)
          : "",
      ),
    ),
  );
  return table(["Kind", "Status", "Authority / reference / reason", "Date", "Deadline", "Document", "Recorded", "Validated", "Receipt"], rows, "Authorisations");
}

function validation(app, a, refresh) {
  if (a.validated_by) return `${a.validated_by}, ${formatTime(a.validated_at)}`;
  if (a.kind === "urgent") return "";
  if (!app.has("supervisor") || a.recorded_by === app.me.username) return "not yet";
  const button = h("button", { type: "button", class: "secondary" }, "Validate");
  button.setAttribute("aria-label", `Validate authorisation ${a.id}`);
  button.addEventListener("click", () =>
    withButton(app, button, async () => {
      await api("POST", `/authorisations/${a.id}/validate`);
      app.flash("Authorisation validated.");
      await refresh();
    }),
  );
  return button;
}

function recordForm(app, c, refresh) {
  const kind = select("kind", KINDS, { id: "authorisation-kind" });
  const authority = input("authority", { id: "authorisation-authority" });
  const reference = input("reference", { id: "authorisation-reference" });
  const issued = input("issued_on", { type: "date", id: "authorisation-issued" });
  const reason = input("reason", { id: "authorisation-reason" });
  const outcome = select("granted", [["true", "Granted"], ["false", "Refused"]], { id: "authorisation-granted" });
  const scan = h("input", { type: "file", name: "scan", id: "authorisation-scan", accept: "application/pdf,image/jpeg,image/png" });
  const submit = h("button", { type: "submit", id: "authorisation-record" }, "Record the authorisation");
  const docFields = [field("Authority", authority, "Court or authority that issued it."), field("Reference", reference), field("Date issued", issued), field("Outcome", outcome, "A refusal deletes the searches of a pending urgent use.")];
  const reasonField = field("Reason", reason, "Why no authorisation is required.");
  const scanField = field("Scan of the document", scan, "PDF, JPEG or PNG, at most 10 MiB; stored encrypted.");
  const show = () => {
    const k = kind.value;
    const isDoc = k === "judicial_warrant" || k === "administrative";
    docFields.forEach((f) => (f.hidden = !isDoc));
    scanField.hidden = k === "urgent";
    reasonField.hidden = k !== "not_required";
  };
  kind.addEventListener("change", show);
  show();
  const form = h(
    "form",
    {
      class: "stack",
      id: "authorisation-form",
      on: {
        submit: (e) => {
          e.preventDefault();
          withButton(app, submit, async () => {
            const data = new FormData();
            data.set("kind", kind.value);
            if (kind.value === "judicial_warrant" || kind.value === "administrative") {
              data.set("authority", authority.value.trim());
              data.set("reference", reference.value.trim());
              if (issued.value) data.set("issued_on", issued.value);
              data.set("granted", outcome.value);
            }
            if (kind.value === "not_required") data.set("reason", reason.value.trim());
            if (kind.value !== "urgent" && scan.files.length) data.set("scan", scan.files[0]);
            const made = await api("POST", `/cases/${encodeURIComponent(c.number)}/authorisations`, { form: data });
            app.flash(`Recorded: ${made.kind_label}, ${statusWords(made)}.`);
            await refresh();
          });
        },
      },
    },
    h("h3", {}, "Record an authorisation"),
    field("Kind", kind),
    docFields,
    reasonField,
    scanField,
    h("div", { class: "actions" }, submit),
  );
  return form;
}

/** Supervisors: every urgent use awaiting its authorisation, nearest deadline first. */
export function deadlinesSection() {
  const body = h("div", {});
  const root = h("section", { id: "authorisation-deadlines" }, h("h2", {}, "Urgent use awaiting authorisation"), body);
  api("GET", "/authorisations/deadlines").then(
    (items) =>
      replace(
        body,
        items.length
          ? table(
              ["Case", "Started by", "Started", "Deadline", "Time left", { label: "Searches", num: true }],
              items.map((a) =>
                h(
                  "tr",
                  {},
                  h("td", {}, h("a", { href: `#/cases/${encodeURIComponent(a.case)}` }, a.case)),
                  h("td", {}, a.recorded_by),
                  h("td", {}, formatTime(a.recorded_at)),
                  h("td", {}, formatTime(a.deadline_at)),
                  h("td", {}, countdown(a.deadline_at)),
                  h("td", { class: "num" }, String(a.searches)),
                ),
              ),
              "Urgent use awaiting authorisation",
            )
          : h("p", { class: "muted" }, "No urgent use is awaiting its authorisation."),
      ),
    (error) => replace(body, h("p", { class: "muted" }, `Deadlines unavailable: ${error.message}`)),
  );
  return root;
}
