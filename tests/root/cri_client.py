"""A small client of Kubernetes' CRI RuntimeService (runtime.v1) over a unix socket, as kubelet
calls containerd: the pod sandbox life cycle only.

The messages come from ``cri/runtime_v1.proto`` (the subset of k8s.io/cri-api's api.proto the tests
use, upstream field numbers), compiled with grpcio-tools' protoc when first needed into a temporary
directory, so the generated code always matches the installed protobuf runtime. The RPCs are plain
unary calls on the upstream method paths (``/runtime.v1.RuntimeService/<Method>``).
"""

from __future__ import annotations

import functools
import importlib.util
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

PROTO = Path(__file__).parent / "cri" / "runtime_v1.proto"
SERVICE = "/runtime.v1.RuntimeService/"


@functools.cache
def messages() -> ModuleType:
    """``runtime_v1_pb2`` (once per process: protobuf registers a file's descriptors only once)."""
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory(prefix="rrt-cri-pb-") as out:
        status = protoc.main(["protoc", f"-I{PROTO.parent}", f"--python_out={out}", str(PROTO)])
        if status:
            raise AssertionError(f"protoc could not compile {PROTO} (exit status {status})")
        spec = importlib.util.spec_from_file_location("runtime_v1_pb2", Path(out) / "runtime_v1_pb2.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # the module is in memory: the directory can go
    return module


class RuntimeService:
    """The CRI runtime service at a unix socket; each call raises ``grpc.RpcError`` on failure."""

    def __init__(self, socket_path: str, timeout: float = 30.0) -> None:
        import grpc

        self.pb = messages()
        self.timeout = timeout
        self.channel = grpc.insecure_channel(f"unix://{socket_path}", options=[("grpc.enable_http_proxy", 0)])

    def close(self) -> None:
        self.channel.close()

    def _call(self, method: str, request: Any, response_type: Any) -> Any:
        rpc = self.channel.unary_unary(
            SERVICE + method,
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_type.FromString,
        )
        return rpc(request, timeout=self.timeout)

    def version(self) -> Any:
        return self._call("Version", self.pb.VersionRequest(version="v1"), self.pb.VersionResponse)

    def run_pod_sandbox(self, config: Any, runtime_handler: str = "") -> str:
        request = self.pb.RunPodSandboxRequest(config=config, runtime_handler=runtime_handler)
        return str(self._call("RunPodSandbox", request, self.pb.RunPodSandboxResponse).pod_sandbox_id)

    def pod_sandbox_status(self, sandbox_id: str, verbose: bool = False) -> Any:
        request = self.pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=verbose)
        return self._call("PodSandboxStatus", request, self.pb.PodSandboxStatusResponse)

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        request = self.pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id)
        self._call("StopPodSandbox", request, self.pb.StopPodSandboxResponse)

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        request = self.pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id)
        self._call("RemovePodSandbox", request, self.pb.RemovePodSandboxResponse)
