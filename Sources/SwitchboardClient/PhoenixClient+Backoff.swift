import NIOCore

extension PhoenixClient {
    /// A stepped backoff schedule, as phoenix.js's `reconnectAfterMs` and
    /// `rejoinAfterMs`: attempt *n* (counted from 1) waits `steps[n - 1]`, and
    /// every attempt past the steps waits `then`. Each delay is spread by a
    /// random factor in `1 - jitter ... 1 + jitter`, so many clients cut off at
    /// once do not come back in lockstep.
    public struct Backoff: Sendable, Hashable {
        /// The delays of the first attempts, in order.
        public var steps: [TimeAmount]
        /// The delay of every attempt after the steps.
        public var then: TimeAmount
        /// The relative spread applied to each delay, in `0...1` (`0.2` is ±20 %).
        public var jitter: Double

        public init(steps: [TimeAmount], then: TimeAmount, jitter: Double = 0) {
            precondition(jitter >= 0 && jitter <= 1, "jitter must be in 0...1")
            self.steps = steps
            self.then = then
            self.jitter = jitter
        }

        /// phoenix.js socket reconnect: 10, 50, 100, 150, 200, 250, 500, 1000,
        /// 2000 ms, then every 5 s; ±20 % jitter.
        public static let reconnect = Backoff(
            steps: [10, 50, 100, 150, 200, 250, 500, 1000, 2000].map { TimeAmount.milliseconds($0) },
            then: .seconds(5),
            jitter: 0.2
        )

        /// phoenix.js channel rejoin: 1, 2, 5 s, then every 10 s; ±20 % jitter.
        public static let rejoin = Backoff(
            steps: [.seconds(1), .seconds(2), .seconds(5)],
            then: .seconds(10),
            jitter: 0.2
        )

        /// The delay before attempt `attempt` (counted from 1) without jitter.
        public func nominalDelay(attempt: Int) -> TimeAmount {
            let index = attempt - 1
            if index >= 0 && index < self.steps.count {
                return self.steps[index]
            }
            return self.then
        }

        /// The delay before attempt `attempt` (counted from 1), jitter applied
        /// with randomness from `generator`. Never negative.
        public func delay<Generator: RandomNumberGenerator>(attempt: Int, using generator: inout Generator) -> TimeAmount {
            let nominal = self.nominalDelay(attempt: attempt)
            guard self.jitter > 0, nominal.nanoseconds > 0 else { return nominal }
            let factor = Double.random(in: (1 - self.jitter)...(1 + self.jitter), using: &generator)
            let nanoseconds = (Double(nominal.nanoseconds) * factor).rounded()
            return .nanoseconds(max(0, Int64(nanoseconds)))
        }

        /// The delay before attempt `attempt`, jitter from the system generator.
        public func delay(attempt: Int) -> TimeAmount {
            var generator = SystemRandomNumberGenerator()
            return self.delay(attempt: attempt, using: &generator)
        }
    }
}
