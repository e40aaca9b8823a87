/// Which nodes shed how many connections so that every node ends near the
/// mean: only serving nodes count, and only those above the mean by more
/// than the tolerance shed, down to the mean.
public struct RebalancePlan: Sendable, Hashable {
    /// One node's part of the plan.
    public struct Step: Sendable, Hashable {
        public var node: String
        public var connections: Int
        public var shed: Int
    }

    /// Mean connections per serving node.
    public let mean: Double
    /// The fraction of the mean a node may be above it without shedding.
    public let tolerance: Double
    /// Every serving node, by name.
    public let steps: [Step]

    /// - Parameters:
    ///   - nodes: the cluster's reports; nodes that are not serving (draining,
    ///     guarded, stopping) neither shed nor count toward the mean.
    ///   - tolerance: 0.1 lets a node be 10 % above the mean.
    public init(nodes: [NodeReport], tolerance: Double) {
        let serving = nodes.filter { $0.accepting }.sorted { $0.node < $1.node }
        let total = serving.reduce(0) { $0 + $1.connections }
        let mean = serving.isEmpty ? 0 : Double(total) / Double(serving.count)
        let ceiling = mean * (1 + tolerance)
        self.mean = mean
        self.tolerance = tolerance
        self.steps = serving.map { node in
            let excess = Double(node.connections) > ceiling ? node.connections - Int(mean.rounded(.up)) : 0
            return Step(node: node.node, connections: node.connections, shed: max(0, excess))
        }
    }

    /// Connections the plan sheds in all.
    public var totalShed: Int { steps.reduce(0) { $0 + $1.shed } }
}
