"""Victim identification: a case's seized material (media sets), known-image elimination with
hash sets, the persons found in it, and cross-case alerts.

A layer above governance that plugs into it: governance never imports media. The composition
root (``facesearch.app``) adds media's case-report sections
(:func:`facesearch.media.report.register`, via ``facesearch.app.media.register_media``); the
tables are listed for migrations by :mod:`facesearch.migrations.tables`.

* :mod:`.service` - :class:`~.service.MediaService`, every governed media act, composed of
  :mod:`.material` (import, inventory, export), :mod:`.alerts` (cross-case check),
  :mod:`.hashset_library` (hash sets), :mod:`.review` (persons) and :mod:`.wellbeing`
  (pictures), over :mod:`.access` (who may see a case's media, the unit of work);
* :mod:`.config` - :class:`~.config.MediaSettings`, from the one ``Settings``;
* :mod:`.persons`, :mod:`.tracks`, :mod:`.report` - sessions in, plain data out;
* the import pipeline and its workers: :mod:`.importer`, :mod:`.worker`, :mod:`.video`,
  :mod:`.sniff`, :mod:`.sources`, :mod:`.hashing`, :mod:`.elimination`, :mod:`.hashsets`,
  :mod:`.cluster`, :mod:`.tracking`;
* :mod:`.schema` - the ``media_*`` tables.
"""
