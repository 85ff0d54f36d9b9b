# docker buildx bake: the Kata guest of recipes/kata-kernel.yaml (kernel,
# kata-containers.img, kata-containers-initrd.img) through kforge's gateway
# frontend, with the same files and cache as `kforge build`.
#
#   kforge frontend image -o type=registry,name=localhost:5000/kforge/frontend:latest
#   docker buildx bake                       # all three
#   docker buildx bake kernel --set kernel.platform=linux/arm64
#
# The agent's release files come from a mirror on an air-gapped farm:
#   KFORGE_MIRROR=http://mirror.farm/kforge docker buildx bake

variable "FRONTEND" {
  default = "localhost:5000/kforge/frontend:latest"
}

variable "KFORGE_MIRROR" {
  default = ""
}

group "default" {
  targets = ["kernel", "image", "initrd"]
}

target "_recipe" {
  context    = "recipes"
  dockerfile = "kata-kernel.yaml"
  args = {
    BUILDKIT_SYNTAX = FRONTEND
    KFORGE_MIRROR   = KFORGE_MIRROR
  }
}

target "kernel" {
  inherits = ["_recipe"]
  target   = "kernel"
  output   = ["type=local,dest=out/kata-kernel"]
}

target "image" {
  inherits = ["_recipe"]
  target   = "image"
  output   = ["type=local,dest=out/guest-image"]
}

target "initrd" {
  inherits = ["_recipe"]
  target   = "initrd"
  output   = ["type=local,dest=out/guest-initrd"]
}
