"""Korean text for retrieval: Kiwi tokens with references kept whole (``tokens``) and the
practitioner-to-statute vocabulary (``vocabulary``)."""
