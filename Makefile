# Thin wrappers; the scripts and `cargo` do the work.
.PHONY: install release docs docs-check

install:
	scripts/install.sh

release:
	scripts/release.sh

docs:
	cargo run --bin mke-docs

docs-check:
	cargo run --bin mke-docs -- --check
