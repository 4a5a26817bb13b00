// Owned by create-hsu-unit: `npx create-hsu-unit regen` rewrites this file.
// It pairs every service of your protos with its implementation.
import { unitService, type UnitService } from "@hsu/server";
import { EchoService } from "./gen/hsu/examples/echo/v1/echo_pb.js";
import { echoService } from "./services/echo-service.js";

/** Every domain service this unit serves. */
export const services: UnitService[] = [
  unitService(EchoService, echoService),
];
