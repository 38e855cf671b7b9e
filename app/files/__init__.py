"""Files: store (content-addressed blobs), intake (receive, judge, store, reference), media
(what an upload is), imaging (transforms and re-encoding) and variants (derived images)."""
