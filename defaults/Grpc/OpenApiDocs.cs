using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi.Any;
using Microsoft.OpenApi.Models;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Veil.ServiceDefaults.Grpc;

/// <summary>
/// What every service's OpenAPI document carries besides its paths: the proto comments as
/// descriptions (the XML documentation of Veil.Protos), the bearer scheme the services accept,
/// and the problem body every error has (<see cref="TranscodingProblemDetailsMiddleware"/>).
/// </summary>
internal static class OpenApiDocs
{
    /// <summary>Name of the security scheme (<c>Authorization: Bearer &lt;access token&gt;</c>).</summary>
    public const string BearerScheme = "bearer";

    /// <summary>Name of the problem schema in <c>components.schemas</c>.</summary>
    public const string ProblemSchema = "Problem";

    public static void Configure(SwaggerGenOptions options, string title)
    {
        options.SwaggerDoc("v1", new OpenApiInfo
        {
            Title = title,
            Version = "v1",
            Description = "Veil's management REST API (gRPC JSON transcoding). JSON is camelCase; enum values carry no type prefix; errors are application/problem+json.",
        });
        var xml = Path.Combine(AppContext.BaseDirectory, "Veil.Protos.xml");
        if (File.Exists(xml))
        {
            options.IncludeXmlComments(xml);
            options.IncludeGrpcXmlComments(xml, includeControllerXmlComments: true);
        }
        options.AddSecurityDefinition(BearerScheme, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "JWT",
            Description = "A Veil access token from POST /v1/auth/signin (or signup). Public reads accept anonymous calls.",
        });
        options.AddSecurityRequirement(new OpenApiSecurityRequirement
        {
            [new OpenApiSecurityScheme { Reference = new OpenApiReference { Type = ReferenceType.SecurityScheme, Id = BearerScheme } }] = [],
        });
        options.DocumentFilter<ProblemDocumentFilter>();
        options.OperationFilter<ProblemOperationFilter>();
    }

    /// <summary>The RFC 9457 problem body, with Veil's <c>errors</c> and <c>retryAfterSeconds</c>.</summary>
    private sealed class ProblemDocumentFilter : IDocumentFilter
    {
        public void Apply(OpenApiDocument document, DocumentFilterContext context)
        {
            document.Components ??= new OpenApiComponents();
            document.Components.Schemas[ProblemSchema] = new OpenApiSchema
            {
                Type = "object",
                Description = "An error (RFC 9457 application/problem+json).",
                Properties = new Dictionary<string, OpenApiSchema>
                {
                    ["type"] = new() { Type = "string", Description = "https://veil.dev/problems/{status}" },
                    ["title"] = new() { Type = "string", Description = "The status's reason phrase." },
                    ["status"] = new() { Type = "integer", Format = "int32" },
                    ["detail"] = new() { Type = "string", Description = "What went wrong and what to fix." },
                    ["errors"] = new()
                    {
                        Type = "object",
                        Description = "Field errors: camelCase field path (e.g. policies.healthCheck.intervalMs) → messages.",
                        AdditionalProperties = new OpenApiSchema { Type = "array", Items = new OpenApiSchema { Type = "string" } },
                    },
                    ["retryAfterSeconds"] = new() { Type = "integer", Format = "int64", Description = "429: when to retry (also the Retry-After header)." },
                },
                Example = new OpenApiObject
                {
                    ["type"] = new OpenApiString("https://veil.dev/problems/400"),
                    ["title"] = new OpenApiString("Bad Request"),
                    ["status"] = new OpenApiInteger(400),
                    ["detail"] = new OpenApiString("The request has invalid fields: slug."),
                    ["errors"] = new OpenApiObject { ["slug"] = new OpenApiArray { new OpenApiString("Must be 3 to 40 characters.") } },
                },
            };
        }
    }

    /// <summary>Every operation's errors are problems.</summary>
    private sealed class ProblemOperationFilter : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            if (string.Equals(context.ApiDescription.HttpMethod, "POST", StringComparison.OrdinalIgnoreCase))
            {
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = "Idempotency-Key",
                    In = ParameterLocation.Header,
                    Required = false,
                    Description = "Any unique string (a random UUID): a retry with the same key and body within 24 h returns the first answer instead of acting twice.",
                    Schema = new OpenApiSchema { Type = "string", MaxLength = 255 },
                });
            }
            operation.Responses.Remove("default");
            operation.Responses["default"] = new OpenApiResponse
            {
                Description = "An error: 400 invalid fields, 401, 403, 404, 409 conflict or stale etag, 422 Idempotency-Key reused, 429, 5xx.",
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["application/problem+json"] = new()
                    {
                        Schema = new OpenApiSchema { Reference = new OpenApiReference { Type = ReferenceType.Schema, Id = ProblemSchema } },
                    },
                },
            };
        }
    }
}
