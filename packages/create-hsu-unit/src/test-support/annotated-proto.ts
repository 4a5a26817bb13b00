// The annotated proto the google/api tests generate units from.

/** Two annotated RPCs, one with a path variable, one with a body. */
export const annotatedProto = `syntax = "proto3";

package acme.items.v1;

import "google/api/annotations.proto";

// ItemService is a small REST-style API.
service ItemService {
  // GetItem answers GET /v1/items/{id}.
  rpc GetItem(GetItemRequest) returns (Item) {
    option (google.api.http) = {get: "/v1/items/{id}"};
  }
  // CreateItem answers POST /v1/items with the item as the body.
  rpc CreateItem(Item) returns (Item) {
    option (google.api.http) = {
      post: "/v1/items"
      body: "*"
    };
  }
  // Unannotated: reached by gRPC (and Connect) only.
  rpc Ping(GetItemRequest) returns (Item);
}

// GetItemRequest names an item.
message GetItemRequest {
  // The item's id.
  string id = 1;
}

// Item is one item.
message Item {
  // The item's id.
  string id = 1;
  // What it is called.
  string name = 2;
}
`;
