// The review of the persons: one decision at a time, sent to the server, which records and
// audits it; the page is then shown again as the server has it. `picked` holds the faces
// ticked for a move or a split (kept while persons are opened and closed); `note` is kept with
// each decision.
import { api } from "../../api.js";
import { field, h, input } from "../../dom.js";
import { withButton } from "../common.js";
import { facesCount, label } from "./sections.js";

export function reviewer(app, c) {
  const note = input("note", { maxlength: 2000, autocomplete: "off" });
  return {
    app,
    picked: new Set(),
    noteField: field("Note kept with each decision (optional)", note, "For example why two persons are one."),
    async decide(cluster, body, done) {
      const out = await api("POST", `/cases/${encodeURIComponent(c.number)}/media/clusters/${cluster}/decisions`, {
        json: { ...body, note: note.value.trim() },
      });
      app.go(window.location.hash); // the page as the server now has it
      app.flash(`${done(out)} Recorded in the audit log (decision ${out.decision_id}).`);
    },
  };
}

export function reviewControls(app, cl, clusters, review) {
  const who = label(cl);
  const name = input("name", { value: cl.name || "", maxlength: 200, autocomplete: "off", required: true });
  const save = h("button", { type: "submit" }, "Save name");
  const nameForm = h(
    "form",
    {
      class: "inline",
      on: {
        submit: (e) => {
          e.preventDefault();
          withButton(app, save, () =>
            review.decide(cl.cluster, { action: "name", name: name.value.trim() }, (o) => `Person ${o.cluster} named “${o.name}”.`),
          );
        },
      },
    },
    field(`Name of person ${cl.cluster}`, name),
    save,
  );
  const hide = h("button", { type: "button", class: "secondary" }, `Hide ${who}`);
  hide.addEventListener("click", () =>
    withButton(app, hide, () => review.decide(cl.cluster, { action: "hide" }, (o) => `Person ${o.cluster} hidden.`)),
  );
  const others = clusters.filter((x) => x.cluster !== cl.cluster);
  let mergeForm = null;
  if (others.length) {
    const other = h(
      "select",
      { name: "other" },
      others.map((x) => h("option", { value: String(x.cluster) }, `${label(x)}, ${facesCount(x.faces.length)}`)),
    );
    const merge = h("button", { type: "submit" }, "Merge");
    mergeForm = h(
      "form",
      {
        class: "inline",
        on: {
          submit: (e) => {
            e.preventDefault();
            withButton(app, merge, () =>
              review.decide(cl.cluster, { action: "merge", other: Number(other.value) }, (o) => `Person ${o.merged} merged into person ${o.cluster}.`),
            );
          },
        },
      },
      field(`Merge into person ${cl.cluster} (the same person)`, other),
      merge,
    );
  }
  const mine = new Set(cl.faces.map((f) => f.face_id));
  const move = h("button", { type: "button", class: "secondary" }, `Move the ticked faces to person ${cl.cluster}`);
  move.addEventListener("click", () =>
    withButton(app, move, async () => {
      const faces = [...review.picked].filter((f) => !mine.has(f));
      if (!faces.length) throw new Error(`Tick faces of other persons first, then move them to person ${cl.cluster}.`);
      await review.decide(cl.cluster, { action: "move", faces }, (o) => `Faces ${o.faces.join(", ")} moved to person ${o.cluster}.`);
    }),
  );
  const split = h("button", { type: "button", class: "secondary" }, `Split the ticked faces off person ${cl.cluster}`);
  split.addEventListener("click", () =>
    withButton(app, split, async () => {
      const faces = [...review.picked].filter((f) => mine.has(f));
      if (!faces.length) throw new Error(`Tick faces of person ${cl.cluster} first, then split them off into a new person.`);
      await review.decide(cl.cluster, { action: "split", faces }, (o) => `Faces ${o.faces.join(", ")} split off person ${o.cluster} into person ${o.new_cluster}.`);
    }),
  );
  return h("div", { class: "review" }, h("div", { class: "review-forms" }, nameForm, mergeForm), h("div", { class: "actions" }, move, split, hide));
}

export function tick(face, review) {
  const box = h("input", { type: "checkbox", name: "face", value: String(face), checked: review.picked.has(face) });
  box.addEventListener("change", () => (box.checked ? review.picked.add(face) : review.picked.delete(face)));
  return h("label", { class: "tick" }, box, ` Tick face ${face} (move or split)`);
}
