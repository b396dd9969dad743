using Grpc.Core;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Identity.Grpc;

public sealed class IdentityGrpcService : IdentityService.IdentityServiceBase
{
    public override Task<SignUpResponse> SignUp(SignUpRequest request, ServerCallContext context) =>
        throw RpcErrors.InvalidArgument("email", "Not yet.");
}
