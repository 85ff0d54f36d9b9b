# The kforge image: the static kforge binary alone, built beforehand by
# `make build` (CGO_ENABLED=0), so that building the image needs no base image
# and no network:
#   bin/buildctl build --frontend dockerfile.v0 --local context=. --local dockerfile=. \
#     --output type=image,name=REGISTRY/kforge:TAG,push=true
# It carries the in-build helper for builds that cannot send a local context.
FROM scratch
COPY bin/kforge /kforge
ENTRYPOINT ["/kforge"]
