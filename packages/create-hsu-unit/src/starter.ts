/**
 * The built-in starter proto, used when the user has no .proto yet: one
 * service with one unary RPC, in a package named after the unit.
 */
export function starterProto(name: string): { path: string; text: string } {
  const pkg = `${name.replace(/-/g, "_")}.v1`;
  const service = name
    .split("-")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
  const text = `syntax = "proto3";

package ${pkg};

// ${service}Service is this unit's own API. Add RPCs here, then run
// \`npx create-hsu-unit regen\` to get a stub for each new one.
service ${service}Service {
  // Hello answers with a greeting for the given name.
  rpc Hello(HelloRequest) returns (HelloResponse);
}

// HelloRequest says whom to greet.
message HelloRequest {
  // Who to greet.
  string name = 1;
}

// HelloResponse is the greeting.
message HelloResponse {
  // The greeting text.
  string greeting = 1;
}
`;
  return { path: `${pkg.replace(/\./g, "/")}/${name.replace(/-/g, "_")}.proto`, text };
}
