export { connectMaster, masterUnitTransport, type ConnectMasterOptions, type MasterConnection } from "./connection.ts";
export { isControlAddress, locateMaster, masterPaths, SPEC_FILE, type LocateMasterOptions, type MasterLocation } from "./locate.ts";
