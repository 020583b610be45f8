"""Public shower datasets: where they are (:mod:`.calochallenge`), how to download them
(:mod:`.fetch`), and the energy scale their files use (:mod:`.energy_scale`)."""
