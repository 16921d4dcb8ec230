/** The hub's patient and doctor web pages: see README.md beside this file. */
export { createWebRouter, statusOf, type WebOptions, type WebRouter } from './router.ts'
export { createWebServer, type WebServer, type WebServerOptions } from './server.ts'
export { patientModel, doctorModel, localAnalysis, deviceView, type PatientSources, type DoctorSources } from './adapt.ts'
export { lastDrops, recentReadings, registeredDoctors, userPayments } from './sources.ts'
export { loadOrCreateCredentials, setPassword, checkLogin, WEB_AUTH_FILE, type WebCredentials, type LoadedCredentials } from './credentials.ts'
export * from './model.ts'
export * from './errors.ts'
