"""The library: scanned photos as a people-tagged collection (Qt-free; the CLI and the GUI both call it).

- ``review``: decisions on faces (confirm, reject, ignore, assign, reset) that teach at once, and re-matching
  of undecided faces from their stored embeddings;
- ``undo``: the operation log kept in the gallery, and ``undo``;
- ``people``: person pages (photos, counts, feature face, hide), merge/rename/remove with re-matching;
- ``search``: photos by people (all / any / without), folder and date taken;
- ``manual``: faces drawn by hand;
- ``rescan``: what a rescan would redo after a model or minimum-face-size change;
- ``xmp`` / ``xmp_files`` / ``xmp_sync``: face regions in the photos' XMP (sidecars or embedded), written,
  read on scans and by ``facerec import-tags``, kept in sync with decisions;
- ``export``: tagging results as CSV rows and JSON arrays (the CLI's --csv/--json, the GUI's export).

``facerec.library.api.Library`` bundles them for one gallery (the GUI's entry point).
"""
