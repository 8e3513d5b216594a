import Foundation

@testable import ReproKit

extension Pool {
    /// The pool records through `RunObserver`; the tests built it on an `EventLog` and read that back.
    var eventLog: EventLog {
        guard let log = log as? EventLog else { fatalError("test pools record into an EventLog") }
        return log
    }
}
